"""The code-system table (``code_systems.yaml``): every spelling of a code system maps to one row.

EHRs write the same code system more than one way (canonical URI, ``urn:oid:``, an older URI);
matching compares rows, never strings, so a policy lists each code once in whichever spelling
its author prefers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


class CodeSystem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    label: str = Field(min_length=1)
    """How cards name the system before a code (``CPT 47383``)."""
    uri: str = Field(min_length=1)
    """Canonical FHIR URI: what we compare on and what we emit."""
    aliases: tuple[str, ...] = ()
    ignore_dots: bool = False
    upper_case: bool = False
    prefix_hierarchy: bool = False
    """A code's descendants are the codes that start with it (ICD-10-CM, SOPT)."""

    def normalise(self, code: str) -> str:
        code = code.strip()
        if self.ignore_dots:
            code = code.replace(".", "")
        return code.upper() if self.upper_case else code


@dataclass(frozen=True)
class CodeSystems:
    rows: tuple[CodeSystem, ...]

    @cached_property
    def _by_spelling(self) -> dict[str, CodeSystem]:
        # Kept on the instance: looking the table up in _index's cache hashes every row, and
        # this runs for every coding of every order.
        return _index(self)

    def find(self, system: str) -> CodeSystem | None:
        return self._by_spelling.get(system.strip())

    def spellings(self) -> list[str]:
        return sorted(self._by_spelling)


@cache
def _index(table: CodeSystems) -> dict[str, CodeSystem]:
    index: dict[str, CodeSystem] = {}
    for row in table.rows:
        for spelling in (row.uri, *row.aliases):
            if spelling in index:
                raise ValueError(f"code system {spelling!r} is listed twice")
            index[spelling] = row
    return index


def parse(data: Any) -> CodeSystems:
    if not isinstance(data, list):
        raise ValueError("code_systems.yaml must be a list of rows")
    return CodeSystems(tuple(CodeSystem.model_validate(row) for row in data))


@cache
def code_systems() -> CodeSystems:
    """The bundled table; a broken file is a packaging error, caught by the test suite."""
    text = resources.files("cds_service.fhir").joinpath("code_systems.yaml").read_text("utf-8")
    table = parse(yaml.safe_load(text))
    _index(table)
    return table
