"""Values from callers made storable, the same way on SQLite and PostgreSQL (pure).

Records keep what the EHR sent (``hook``, ``hookInstance``, the JWT's ``jti`` and ``tenant``,
ids and codes of orders, data its FHIR server returned, feedback items). Whatever a caller
sends, the row must be written: PostgreSQL refuses U+0000 in text and a value longer than its
``VARCHAR(n)``, and neither database can encode a lone UTF-16 surrogate (JSON's ``\\ud800``,
accepted by the JWT library's parser). SQLite would store the first two as they are, so one
rule for both keeps a record the same whichever database holds it:

- U+0000 and lone surrogates become U+FFFD (the Unicode replacement character);
- a value longer than its column keeps its first ``n - 1`` characters and ends with ``…``.

JSON columns are cleaned value by value (and key by key); their size is bounded by the body limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, String, Table

REPLACEMENT = "\ufffd"
TRUNCATED = "\u2026"
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def safe_text(value: str, limit: int | None = None) -> str:
    # ASCII text (nearly every value) can hold only the NUL of the two: skip the regex.
    if (("\x00" in value) if value.isascii() else _UNSAFE.search(value) is not None):
        value = _UNSAFE.sub(REPLACEMENT, value)
    if limit is not None and len(value) > limit:
        value = value[:limit - 1] + TRUNCATED
    return value


def safe_json(value: Any) -> Any:
    # Nearly every value is storable as it is, and orjson says so faster than a walk: it
    # refuses lone surrogates and keys that are not strings, and writes U+0000 as an escape.
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return value
    except TypeError:
        pass
    return _safe_json(value)


def _safe_json(value: Any) -> Any:
    # Exact JSON types first; the abstract checks below are several times slower.
    kind = type(value)
    if kind is dict:
        return {safe_text(str(k)): _safe_json(v) for k, v in value.items()}
    if kind is list:
        return [_safe_json(v) for v in value]
    if kind is str:
        return safe_text(value)
    if value is None or kind is int or kind is bool or kind is float:
        return value
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, Mapping):
        return {safe_text(str(k)): _safe_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_json(v) for v in value]
    return value


def storable(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with every text and JSON value made safe for its column of ``table``."""
    rules = _rules(table)
    out = dict(row)
    for name, value in row.items():
        if value is None or name not in rules:
            continue
        kind, limit = rules[name]
        out[name] = safe_text(value, limit) if kind == "text" else safe_json(value)
    return out


@cache
def _rules(table: Table) -> dict[str, tuple[str, int | None]]:
    rules: dict[str, tuple[str, int | None]] = {}
    for column in table.columns:
        if isinstance(column.type, String):  # Text included
            rules[column.name] = ("text", column.type.length)
        elif isinstance(column.type, JSON):
            rules[column.name] = ("json", None)
    return rules
