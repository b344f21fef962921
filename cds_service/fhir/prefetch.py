"""Prefetch slots and templates (CDS Hooks 2.0 §Prefetch Template).

A key the client did not satisfy is absent; ``null`` means the query ran and found nothing;
an OperationOutcome means the client's query failed (2.0 §Prefetch: services SHOULD check for it).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any
from urllib.parse import quote


class Slot(Enum):
    ABSENT = "absent"
    NULL = "null"
    FAILED = "failed"
    PRESENT = "present"


def slot(prefetch: dict[str, Any] | None, key: str) -> tuple[Slot, Any]:
    if not prefetch or key not in prefetch:
        return Slot.ABSENT, None
    value = prefetch[key]
    if value is None:
        return Slot.NULL, None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        # Not a FHIR resource: as good as not sent; we query for it ourselves.
        return Slot.FAILED, None
    if value["resourceType"] == "OperationOutcome":
        return Slot.FAILED, value
    return Slot.PRESENT, value


_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


def expand(template: str, context: dict[str, Any]) -> str | None:
    """Fill ``{{context.x}}`` tokens; None when a token has no primitive value to fill it with."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str) or not value:
            missing = True
            return ""
        return quote(value, safe="/")

    url = _TOKEN.sub(fill, template)
    return None if missing else url


_TYPE = re.compile(r"^([A-Z][A-Za-z]+)(?:[/?]|$)")


def resource_type_of(template: str) -> str | None:
    """The resource type a template reads or searches (``Coverage?patient=...`` -> Coverage)."""
    match = _TYPE.match(template)
    return match.group(1) if match else None
