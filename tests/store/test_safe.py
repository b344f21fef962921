"""What the caller sent, made storable (pure): the same rule for every text and JSON column of
every table, so no value can fail a write on PostgreSQL that SQLite would have taken."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, String

from cds_service.store.safe import safe_json, safe_text, storable
from cds_service.store.tables import metadata


@pytest.mark.parametrize("sent, stored", [
    ("plain", "plain"),
    ("a\x00b", "a\ufffdb"),
    ("a\ud800b\udfff", "a\ufffdb\ufffd"),
    ("é😀", "é😀"),  # a valid surrogate pair in Python is one code point: kept
])
def test_nul_and_lone_surrogates_become_the_replacement_character(sent: str,
                                                                   stored: str) -> None:
    assert safe_text(sent) == stored
    stored.encode()  # always valid UTF-8


def test_a_value_longer_than_its_column_is_cut_and_marked() -> None:
    assert safe_text("x" * 10, 10) == "x" * 10
    assert safe_text("x" * 11, 10) == "x" * 9 + "\u2026"


def test_json_values_and_keys_are_cleaned_at_any_depth() -> None:
    sent: Any = {"k\x00": [{"v": "a\x00"}, 1, None, ("t\ud800",)]}
    assert safe_json(sent) == {"k\ufffd": [{"v": "a\ufffd"}, 1, None, ["t\ufffd"]]}


@pytest.mark.parametrize("table", metadata.sorted_tables, ids=lambda t: t.name)
def test_every_text_column_of_every_table_is_covered(table: Any) -> None:
    row: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, String):
            row[column.name] = "\x00" + "x" * ((column.type.length or 10) + 5)
        elif isinstance(column.type, JSON):
            row[column.name] = {"\x00": ["\x00"]}
    for name, value in storable(table, row).items():
        assert "\x00" not in str(value), name
        length = getattr(table.c[name].type, "length", None)
        if length is not None:
            assert len(value) == length, name
