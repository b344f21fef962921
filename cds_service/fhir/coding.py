"""Code matching shared by policies and the payer mapping (pure).

EHRs write the same code system in more than one way (canonical URI or OID) and ICD-10-CM codes
with or without the dot; both are normalised here so policy files can list each code once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SOPT = "https://nahdo.org/sopt"

_SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.3.221.5": SOPT,
}
SYSTEM_LABELS = {CPT: "CPT", ICD10CM: "ICD-10-CM", SOPT: "SOPT"}


def elements(value: Any) -> list[Any]:
    """The items of a repeating FHIR element, as received: anything but a JSON array (a number,
    a string, an object sent by mistake) has none. Input we have not validated is read only
    through this, so a wrong shape cannot become a TypeError (a 500)."""
    return value if isinstance(value, list) else []


def canonical_system(system: str) -> str:
    return _SYSTEM_ALIASES.get(system, system)


def canonical_code(system: str, code: str) -> str:
    code = code.strip()
    if system == ICD10CM:
        # ICD-10-CM codes arrive both as "C22.0" and "C220".
        return code.replace(".", "").upper()
    return code


class CodeRef(BaseModel):
    """A code a rule matches; ``descendants`` also matches codes that extend it (C18 -> C18.7)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    descendants: bool = False

    def matches(self, system: str, code: str) -> bool:
        mine_system = canonical_system(self.system)
        if canonical_system(system) != mine_system:
            return False
        mine = canonical_code(mine_system, self.code)
        theirs = canonical_code(mine_system, code)
        return theirs == mine or (self.descendants and theirs.startswith(mine))


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
