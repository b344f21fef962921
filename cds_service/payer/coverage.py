"""Which Coverage applies, whether it is ours, and its line of business (pure).

Da Vinci CRD: the client sends the one primary Coverage (2.2 §dev-29); a Coverage whose payer is
not handled by this endpoint gets 400. Telling Medicare Advantage from Commercial is not
standardised, so it comes from the operator's mapping in the payer file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cds_service.errors import BadRequest
from cds_service.fhir.coding import SYSTEM_LABELS, any_match, codings, elements
from cds_service.fhir.references import reference_of
from cds_service.payer.models import Identifier, LineOfBusiness, PayerConfig

COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"


@dataclass(frozen=True)
class LineResult:
    line: LineOfBusiness | None
    basis: str
    """How it was determined, for the decision record (never patient data)."""


def is_active(coverage: dict[str, Any]) -> bool:
    # The prefetch query asks for status=active; a status-less Coverage is given the benefit.
    return (coverage.get("resourceType") == "Coverage"
            and coverage.get("status", "active") == "active")


def applies(coverage: dict[str, Any], patient_id: str, today: str) -> bool:
    """The Coverage is the patient's and in force today (``today`` as YYYY-MM-DD). A reference
    to another patient, or a period ended or not yet begun, rules it out; what cannot be told
    (a contained or logical beneficiary, no period) does not."""
    ref = reference_of(coverage.get("beneficiary"))
    if ref and "/Patient/" in f"/{ref}" and ref.rsplit("/", 1)[-1] != patient_id:
        return False
    period = coverage.get("period")
    if isinstance(period, dict):
        # FHIR dates may be partial (2026, 2026-11): compare today at the same precision.
        end, start = period.get("end"), period.get("start")
        if isinstance(end, str) and end and today[:len(end[:10])] > end[:10]:
            return False
        if isinstance(start, str) and start and today[:len(start[:10])] < start[:10]:
            return False
    return True


def line_of_business(payer: PayerConfig, coverage: dict[str, Any]) -> LineResult:
    types = list(codings(coverage.get("type")))
    classes = list(_classes(coverage))
    for line in payer.lines_of_business:
        hit = any_match(line.coverage_type, types)
        if hit:
            label = SYSTEM_LABELS.get(hit[0], hit[0])
            return LineResult(line, f"Coverage.type {label} {hit[1]}")
        for rule in line.coverage_class:
            if (rule.type, rule.value) in classes:
                return LineResult(line, f"Coverage.class {rule.type} {rule.value}")
    shown = ", ".join(f"{SYSTEM_LABELS.get(s, s)} {c}" for s, c in types) or "none"
    return LineResult(None, f"no mapping matched (Coverage.type codes: {shown})")


def _classes(coverage: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for item in elements(coverage.get("class")):
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            continue
        for system, code in codings(item.get("type")):
            if system == COVERAGE_CLASS:
                yield code, item["value"]


def payor_identifiers(payor: dict[str, Any], organization: dict[str, Any] | None,
                      ) -> Iterator[tuple[str, str]]:
    """(system, value) pairs naming a payer: on the Reference itself or on the Organization."""
    for source in (payor.get("identifier"), *elements((organization or {}).get("identifier"))):
        if isinstance(source, dict):
            system, value = source.get("system"), source.get("value")
            if isinstance(system, str) and isinstance(value, str):
                yield system, value


def is_ours(payer: PayerConfig, found: list[tuple[str, str]]) -> bool:
    ours = {(i.system, i.value) for i in payer.identifiers}
    return any(pair in ours for pair in found)


def describe_identifiers(identifiers: list[Identifier]) -> str:
    return ", ".join(f"{i.system}|{i.value}" for i in identifiers)


# The Coverage errors of Da Vinci CRD 2.2 (hooks.md, error handling): the server SHALL answer
# 400 when the one primary Coverage with a payer identifier it handles cannot be had. Each says
# which case it is, so the EHR's integrator can tell them apart.

def no_coverage(source: str) -> BadRequest:
    return BadRequest(
        "No active Coverage for the member is accessible (looked in: "
        f"{source}); Da Vinci CRD needs the member's one active Coverage with this payer.",
        expression="Coverage")


def not_ours(payer: PayerConfig, any_identifier: bool) -> BadRequest:
    expected = describe_identifiers(payer.identifiers)
    if not any_identifier:
        return BadRequest(
            "The member's Coverage names no payer identifier (Coverage.payor identifier, or "
            f"the payor Organization's identifier); this endpoint handles {expected}.",
            expression="Coverage.payor")
    return BadRequest(
        "The member's Coverage does not name this payer (Coverage.payor identifier "
        f"expected: {expected}); this endpoint handles only its own members (Da Vinci CRD 2.2).",
        expression="Coverage.payor")


def several(count: int) -> BadRequest:
    return BadRequest(
        f"{count} active Coverages of the member are for this payer; Da Vinci CRD clients send "
        "the one primary Coverage (CRD 2.2 \u00a7dev-29), so which applies cannot be told.",
        expression="Coverage")
