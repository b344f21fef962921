"""Code matching shared by policies and the payer mapping (pure).

EHRs write the same code system in more than one way (canonical URI or OID) and ICD-10-CM codes
with or without the dot; both are normalised through the code-system table
(``fhir/code_systems.yaml``) so policy files can list each code once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_service.fhir.code_systems import code_systems

CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
SOPT = "https://nahdo.org/sopt"

SYSTEM_LABELS = {row.uri: row.label for row in code_systems().rows}
"""Card label of each canonical system URI."""


def elements(value: Any) -> list[Any]:
    """The items of a repeating FHIR element, as received: anything but a JSON array (a number,
    a string, an object sent by mistake) has none. Input we have not validated is read only
    through this, so a wrong shape cannot become a TypeError (a 500)."""
    return value if isinstance(value, list) else []


def canonical_system(system: str) -> str:
    """The table's URI for any spelling of a known system; other systems are left as sent."""
    row = code_systems().find(system)
    return row.uri if row else system


def canonical_code(system: str, code: str) -> str:
    row = code_systems().find(system)
    return row.normalise(code) if row else code.strip()


def system_label(system: str) -> str | None:
    row = code_systems().find(system)
    return row.label if row else None


def check_known_system(system: str) -> str:
    """A policy or payer file may name only systems in the table (any of their spellings): a
    misspelt system would otherwise match nothing, silently."""
    if code_systems().find(system) is None:
        known = ", ".join(code_systems().spellings())
        raise ValueError(f"unknown code system {system!r}; known systems (any spelling): "
                         f"{known}. A new system is a row in cds_service/fhir/code_systems.yaml")
    return system


class CodeRef(BaseModel):
    """A code a rule matches; ``descendants`` also matches codes that extend it (C18 -> C18.7)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    descendants: bool = False

    _known = field_validator("system")(check_known_system)

    @model_validator(mode="after")
    def _descendants_need_a_prefix_hierarchy(self) -> CodeRef:
        row = code_systems().find(self.system)
        if self.descendants and row is not None and not row.prefix_hierarchy:
            raise ValueError(f"descendants: {row.label} codes do not extend their parent's code; "
                             "list each code instead")
        return self

    def matches(self, system: str, code: str) -> bool:
        mine_system, mine = listed(self.system, self.code)
        if canonical_system(system) != mine_system:
            return False
        theirs = canonical_code(mine_system, code)
        return theirs == mine or (self.descendants and theirs.startswith(mine))


def canonical(system: str, code: str) -> tuple[str, str]:
    """(system, code) as the code-system table writes them."""
    system = canonical_system(system)
    return system, canonical_code(system, code)


listed = lru_cache(maxsize=4096)(canonical)
"""``canonical`` of a code a policy or the payer file lists, worked out once per code (matching
runs for every reason of every matched order), by value, so it cannot outlive a change.
Bounded: files list a few hundred."""


def codings(concept: Any) -> Iterator[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept dict, skipping malformed codings."""
    if not isinstance(concept, dict):
        return
    for coding in elements(concept.get("coding")):
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                yield canonical_system(system), code


def any_match(refs: Iterable[CodeRef], pairs: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The first (system, code) pair matched by any ref, or None."""
    refs = tuple(refs)
    for system, code in pairs:
        if any(ref.matches(system, code) for ref in refs):
            return system, code
    return None
