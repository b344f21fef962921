"""The coverage-information extension as each Da Vinci CRD release defines it, read from the IG's
own FSH at the release's tag (the shared reference material, reference/crd/versions/<tag>_*.fsh:
see reference/crd/SOURCES.md there), and a checker built from it: sub-extension cardinalities,
value types, required code bindings, and the invariants crd-ci-q1..q9 evaluated as the IG
writes them, with fhirpathpy.

Why fhirpathpy, measured before choosing (2026-12-07, this machine): compiling one invariant takes
~20 ms, evaluating it on one extension well under 1 ms; the 21 invariants of the three releases
compile once per test session. Two gaps are filled here, each by the FHIRPath rule it lacks, not by
rewriting the IG's expressions: boolean operators apply "Singleton Evaluation of Collections"
(FHIRPath N1 §4.5: a one-item collection of a non-Boolean is ``true`` where a Boolean is
expected; the 2.0.1 q2 and q4 rely on it, fhirpathpy raises instead), and ``memberOf`` is answered
from the value sets read here (fhirpathpy has no terminology service).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fhirpathpy import compile as fhirpath
from fhirpathpy.engine import util
from fhirpathpy.engine.invocations import logic
from fhirpathpy.models import models

from tests.support import REFERENCE, require_shared

IG = REFERENCE / "crd" / "versions"
"""The IG's FSH files of each release, ``<tag>_<file name in the IG>``."""
TAGS = {"2.0.1": "2.0.1", "2.1": "2.1.0", "2.2": "2.2.1"}
"""Our version names (cds_service.crd_versions) -> the IG tag their definitions come from."""

SYSTEMS = {
    "CRDTempCodes": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
    "CoverageInformationCodes":
        "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes",
    "$v3-NullFlavor": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
    "$crd-coverage-detail": "http://terminology.hl7.org/CodeSystem/crd-coverage-detail",
}
VALUE_KEYS = {
    "Reference": "valueReference", "code": "valueCode", "Coding": "valueCoding",
    "CodeableConcept": "valueCodeableConcept", "canonical": "valueCanonical",
    "date": "valueDate", "string": "valueString", "boolean": "valueBoolean", "url": "valueUrl",
    "SimpleQuantity": "valueQuantity", "Period": "valuePeriod",
    "ContactPoint": "valueContactPoint", "ContactDetail": "valueContactDetail",
}
VALUE_SET_URL = "http://hl7.org/fhir/us/davinci-crd/ValueSet/"


@dataclass
class ValueSet:
    id: str
    codes: set[tuple[str, str]] = field(default_factory=set)
    whole_systems: set[str] = field(default_factory=set)

    def has(self, system: str | None, code: str | None) -> bool:
        return (system, code) in self.codes or system in self.whole_systems

    def has_code(self, code: str) -> bool:
        return any(c == code for _, c in self.codes)


@dataclass
class Element:
    min: int = 0
    max: float = float("inf")
    types: tuple[str, ...] = ()
    required: str | None = None
    """Name of the value set a ``code`` value is bound to (required binding)."""


@dataclass
class Definition:
    version: str
    elements: dict[str, Element]
    detail: dict[str, Element]
    invariants: dict[str, str]
    """id -> FHIRPath expression, for the invariants the extension obeys."""
    value_sets: dict[str, ValueSet]
    """By FSH name and by id."""


def _fsh(path: Path) -> list[str]:
    """The file's lines without comments: ``//`` lines first (``//* include ...`` is one, and
    would otherwise open a block comment), then ``/* ... */`` blocks."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("//")]
    return re.sub(r"/\*.*?\*/", "", "\n".join(lines), flags=re.S).splitlines()


def _cardinalities(lines: list[str], start: int) -> dict[str, Element]:
    out: dict[str, Element] = {}
    for line in lines[start + 1:]:
        match = re.match(r"^\s+([\w-]+) (\d+)\.\.(\d+|\*)", line)
        if not match:
            break
        name, low, high = match.groups()
        out[name] = Element(int(low), float("inf") if high == "*" else int(high))
    return out


def _types(text: str) -> tuple[str, ...]:
    plain = re.sub(r"\([^)]*\)", "", text)
    return tuple(VALUE_KEYS[t.strip()] for t in plain.split(" or "))


def _value_sets(lines: list[str]) -> dict[str, ValueSet]:
    sets: dict[str, ValueSet] = {}
    current: ValueSet | None = None
    for line in lines:
        if line.startswith("ValueSet:"):
            current = ValueSet(line.split(":", 1)[1].strip())
            sets[current.id] = current
        elif line.startswith("Id:") and current is not None:
            sets[line.split(":", 1)[1].strip()] = current
        elif current is not None and (m := re.match(r"^\* ([$\w-]+)#([\w-]+)", line)):
            current.codes.add((SYSTEMS[m.group(1)], m.group(2)))
        elif current is not None and (m := re.match(r"^\* include codes from system (\S+)", line)):
            current.whole_systems.add(SYSTEMS[m.group(1)])
    return sets


@cache
def definition(version: str) -> Definition:
    extension, value_sets_file, detail_codes = (
        IG / f"{TAGS[version]}_{name}" for name in (
            "CoverageInformation.fsh", "CoverageInformationValuesets.fsh",
            "CRDCoverageDetailCodes.fsh"))
    require_shared(extension, value_sets_file, detail_codes)
    lines = _fsh(extension)
    value_sets = _value_sets(_fsh(value_sets_file) + _fsh(detail_codes))
    elements: dict[str, Element] = {}
    detail: dict[str, Element] = {}
    obeys: list[str] = []
    invariants: dict[str, str] = {}
    current: Element | None = None
    invariant: str | None = None
    for i, line in enumerate(lines):
        if line.startswith("* extension contains"):
            elements = _cardinalities(lines, i)
        elif line.startswith("  * extension contains"):
            detail = _cardinalities(lines, i)
        elif m := re.match(r"^\* extension\[([\w-]+)\]", line):
            current = elements[m.group(1)]
        elif m := re.match(r"^  \* extension\[([\w-]+)\]", line):
            current = detail[m.group(1)]
        elif current is not None and (m := re.match(r"^\s+\* value\[x\] only (.+)$", line)):
            current.types = _types(m.group(1))
        elif current is not None and (
                m := re.match(r"^\s+\* value(?:\[x\]|CodeableConcept) from (\w+) \((\w+)\)",
                              line)):
            if m.group(2) == "required":
                current.required = m.group(1)
        elif line.startswith("* obeys"):
            obeys = re.findall(r"crd-ci-q\d", line)
        elif line.startswith("Invariant:"):
            invariant = line.split(":", 1)[1].strip()
        elif line.startswith("Expression:") and invariant is not None:
            invariants[invariant] = line.split(":", 1)[1].strip().strip('"')
    return Definition(version, elements, detail,
                      {k: v for k, v in invariants.items() if k in obeys}, value_sets)


# -- invariants --------------------------------------------------------------------------------

def _singleton(collection: Any) -> Any:
    """FHIRPath §4.5 Singleton Evaluation of Collections, where a Boolean is expected."""
    items = util.arraify(collection)
    if not items:
        return []
    if len(items) > 1:
        raise ValueError(f"a collection of {len(items)} items where a Boolean is expected")
    value = util.get_data(items[0])
    return value if isinstance(value, bool) else True


def _boolean(op: Any) -> dict[str, Any]:
    # fhirpathpy calls a user function with the input collection's data and the arguments.
    return {"fn": lambda a, b: op(None, _singleton(a), _singleton(b)),
            "arity": {2: ["Any", "Any"]}}


def _member_of(value_sets: dict[str, ValueSet]) -> dict[str, Any]:
    def member_of(items: Any, url: str) -> list[bool]:
        # One answer for the whole collection (the IG applies it to every reason at once):
        # true when each concept has a coding in the value set.
        value_set = value_sets[url.removeprefix(VALUE_SET_URL)]
        found = []
        for item in util.arraify(items):
            concept = util.get_data(item)
            codings = concept.get("coding") or () if isinstance(concept, dict) else ()
            found.append(any(value_set.has(c.get("system"), c.get("code")) for c in codings))
        return [all(found)] if found else []
    return {"fn": member_of, "arity": {1: ["String"]}}


@cache
def compiled(version: str) -> dict[str, Any]:
    d = definition(version)
    options = {"userInvocationTable": {
        "implies": _boolean(logic.implies_op), "and": _boolean(logic.and_op),
        "or": _boolean(logic.or_op), "memberOf": _member_of(d.value_sets)}}
    return {key: fhirpath(expression, models["r4"], options=options)
            for key, expression in d.invariants.items()}


def invariant_failures(extension: dict[str, Any], version: str) -> list[str]:
    failed = []
    for key, check in compiled(version).items():
        result = check(extension)
        if result not in ([True], []):  # empty: the invariant does not apply
            failed.append(f"{key}: {definition(version).invariants[key]}")
    return failed


# -- the whole extension -----------------------------------------------------------------------

def _element_problems(where: str, subs: list[dict[str, Any]], elements: dict[str, Element],
                      d: Definition) -> list[str]:
    problems = []
    urls = [s.get("url") for s in subs]
    problems += [f"{where}{u}: not defined in CRD {d.version}" for u in urls if u not in elements]
    for name, element in elements.items():
        found = [s for s in subs if s.get("url") == name]
        if not element.min <= len(found) <= element.max:
            problems.append(f"{where}{name}: {len(found)} present, CRD {d.version} allows "
                            f"{element.min}..{element.max:g}")
        for sub in found:
            keys = [k for k in sub if k.startswith("value")]
            if not element.types:  # complex (detail): checked part by part
                continue
            if len(keys) != 1 or keys[0] not in element.types:
                problems.append(f"{where}{name}: has {keys}, CRD {d.version} allows "
                                f"{list(element.types)}")
                continue
            if element.required and keys[0] == "valueCode":
                value_set = d.value_sets[element.required]
                if not value_set.has_code(sub[keys[0]]):
                    problems.append(f"{where}{name}: {sub[keys[0]]!r} is not in "
                                    f"{element.required} (CRD {d.version})")
    return problems


def extension_problems(extension: dict[str, Any], version: str) -> list[str]:
    """One ext-coverage-information repetition against CRD ``version``'s own definition."""
    d = definition(version)
    subs = [s for s in extension.get("extension") or () if isinstance(s, dict)]
    problems = _element_problems("", subs, d.elements, d)
    for detail in (s for s in subs if s.get("url") == "detail"):
        parts = [p for p in detail.get("extension") or () if isinstance(p, dict)]
        problems += _element_problems("detail.", parts, d.detail, d)
    return problems + invariant_failures(extension, version)
