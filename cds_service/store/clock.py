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
    return to_utc(parsed)


def to_utc(value: datetime) -> datetime:
    """UTC (a value naming no zone is taken as UTC); ValueError when the shift leaves the
    representable years (0001-01-01T00:00+01:00 has no UTC datetime)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None
