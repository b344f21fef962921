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
    """Whether ``value`` holds no null, empty string, empty array or empty object at any depth,
    so that ``_pruned(value)`` equals it: a read-only walk, level by level over containers (half
    the cost of a recursive one; every order of every call passes here). A null kept as an
    alignment placeholder is left to the copying walk, which knows that rule. Exact types only
    (parsed JSON has no others); anything else takes the copying walk."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return not isinstance(value, dict | list)
    level = [value]
    while level:
        below = []
        for container in level:
            for item in container.values() if type(container) is dict else container:
                kind = type(item)
                if kind is str:
                    if not item:
                        return False
                elif kind is dict or kind is list:
                    if not item:
                        return False
                    below.append(item)
                elif item is None or isinstance(item, dict | list):
                    return False
        level = below
    return True


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
