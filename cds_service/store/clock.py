"""Time as the records keep it: aware UTC datetimes, written out as RFC 3339 with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_since(value: str) -> datetime:
    """An ISO 8601 date-time (UTC when it names no zone) or a date (its midnight UTC);
    ValueError otherwise."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
