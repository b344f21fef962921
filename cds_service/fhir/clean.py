"""No null, no empty array, no empty object: FHIR JSON's "absent", made explicit (pure).

FHIR R4 JSON (§json.html: arrays and objects SHALL NOT be empty, and null is allowed only as a
placeholder keeping a primitive array aligned with its ``_element`` extension array) and CDS Hooks
2.0 §Use of JSON. EHRs send such values (``"reasonCode": []``): we read them as absent, and an
order we echo back must not carry them.
"""

from __future__ import annotations

from typing import Any


def pruned(value: Any) -> Any:
    """``value`` without nulls, empty arrays and empty objects, at any depth (removing one can
    empty its parent, which then goes too). Nulls inside a primitive array that has a ``_name``
    twin stay: there they are FHIR's alignment placeholders."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            twin = key[1:] if key.startswith("_") else f"_{key}"
            keep_nulls = isinstance(item, list) and isinstance(value.get(twin), list)
            cleaned = _list(item, keep_nulls) if isinstance(item, list) else pruned(item)
            if not _empty(cleaned):
                out[key] = cleaned
        return out
    if isinstance(value, list):
        return _list(value, keep_nulls=False)
    return value


def _list(items: list[Any], keep_nulls: bool) -> list[Any]:
    cleaned = [pruned(item) for item in items]
    if keep_nulls:
        kept = [None if _empty(item) else item for item in cleaned]
        return kept if any(item is not None for item in kept) else []
    return [item for item in cleaned if not _empty(item)]


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}
