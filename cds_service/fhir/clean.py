"""No null, no empty string, array or object: FHIR JSON's "absent", made explicit (pure).

FHIR R4 JSON (§json.html: arrays and objects SHALL NOT be empty, and null is allowed only as a
placeholder keeping a primitive array aligned with its ``_element`` extension array; R4
datatypes.html: "Strings SHALL NOT be empty") and CDS Hooks
2.0 §Use of JSON. EHRs send such values (``"reasonCode": []``): we read them as absent, and an
order we echo back must not carry them.
"""

from __future__ import annotations

from typing import Any


def pruned(value: Any) -> Any:
    """``value`` without nulls, empty arrays and empty objects, at any depth (removing one can
    empty its parent, which then goes too). Nulls inside a primitive array that has a ``_name``
    twin stay: there they are FHIR's alignment placeholders. Values that have nothing to drop
    (the usual case: every order of every call passes here) are returned as they are, not
    copied; nothing here or downstream changes them in place."""
    return value if _clean(value) else _pruned(value)


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            twin = key[1:] if key.startswith("_") else f"_{key}"
            keep_nulls = isinstance(item, list) and isinstance(value.get(twin), list)
            cleaned = _list(item, keep_nulls) if isinstance(item, list) else _pruned(item)
            if not _empty(cleaned):
                out[key] = cleaned
        return out
    if isinstance(value, list):
        return _list(value, keep_nulls=False)
    return value


def _list(items: list[Any], keep_nulls: bool) -> list[Any]:
    cleaned = [_pruned(item) for item in items]
    if keep_nulls:
        kept = [None if _empty(item) else item for item in cleaned]
        return kept if any(item is not None for item in kept) else []
    return [item for item in cleaned if not _empty(item)]


def _clean(value: Any) -> bool:
    """Whether ``_pruned(value)`` would equal ``value``: a read-only walk, no copies. Exact
    types (parsed JSON has no others); anything else takes the copying walk."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                if not item or not _clean(item):
                    return False
            elif kind is list:
                if not item or not _clean_items(item, value, key):
                    return False
            elif item is None or item == "" or isinstance(item, dict | list):
                return False
        return True
    if kind is list:
        return bool(value) and _clean_items(value, None, "")
    return not isinstance(value, dict | list)


def _clean_items(items: list[Any], parent: dict[str, Any] | None, key: str) -> bool:
    nulls = 0
    for item in items:
        kind = type(item)
        if item is None:
            nulls += 1
        elif item == "":
            return False
        elif kind is dict:
            if not item or not _clean(item):
                return False
        elif kind is list:
            if not item or not _clean_items(item, None, ""):
                return False
        elif isinstance(item, dict | list):
            return False
    if not nulls:
        return True
    # Nulls stay only as placeholders aligned with a ``_name`` twin array, and not all of them.
    twin = key[1:] if key.startswith("_") else f"_{key}"
    return parent is not None and isinstance(parent.get(twin), list) and nulls < len(items)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
