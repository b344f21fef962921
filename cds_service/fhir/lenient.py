"""Lenient reading: elements FHIR R4 does not define are dropped, not refused (pure).

Da Vinci CRD 2.2 §found-33: unexpected elements SHALL be ignored. EHRs add local elements to the
resources they send; a decision never depends on them. What is dropped is reported as paths only
(element names, never values) so the decision record can say what was ignored.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from cds_service.errors import json_path

MAX_NOTED = 50
"""Dropped paths kept per resource (the record notes that there were more)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.\[\]]")


def without(resource: dict[str, Any],
            locations: Iterable[tuple[int | str, ...]]) -> dict[str, Any]:
    """A deep copy of ``resource`` without the elements at ``locations`` (pydantic error locs)."""
    result = copy.deepcopy(resource)
    for loc in locations:
        parent: Any = result
        for part in loc[:-1]:
            if isinstance(parent, dict) and isinstance(part, str):
                parent = parent.get(part)
            elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
                parent = parent[part]
            else:
                parent = None
                break
        if isinstance(parent, dict) and isinstance(loc[-1], str):
            parent.pop(loc[-1], None)
    return result


def noted(resource_type: str, locations: list[tuple[int | str, ...]]) -> tuple[str, ...]:
    """FHIRPath-like paths of dropped elements, made safe to store: characters outside what a FHIR
    element name uses become ``?``, each path is bounded, and so is their number."""
    paths = [_UNSAFE.sub("?", json_path(loc, resource_type))[:200] for loc in locations]
    unique = list(dict.fromkeys(paths))
    if len(unique) > MAX_NOTED:
        unique = [*unique[:MAX_NOTED], f"(and {len(unique) - MAX_NOTED} more)"]
    return tuple(unique)
