"""The cards a policy can produce, found by asking the service itself.

A policy author cannot order CPT 47383 in the CDS Hooks sandbox, so the preview page synthesises
the order-sign calls an EHR would make for every situation the policy distinguishes: each of its
codes, for a member of each line of business in the payer file, with a member whose plan type maps
to none and (when the payer file asks for a card then) with no active coverage, and with each
indication's diagnosis codes as the order's
reason or with no reason at all. Each request goes through the same ``Evaluator.evaluate`` that
answers hook calls, so the cards shown are exactly the cards clinicians get.

``scenarios`` is pure (policy and payer file in, requests out); ``preview`` runs them. An author
narrows the page by the three facets every scenario has (``FACETS``: the member's plan, the code,
the indication), with values taken from the scenarios themselves, so whatever situations the
preview comes to distinguish can be filtered the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cds_service.crd_versions import NEWEST
from cds_service.evaluate import Evaluator
from cds_service.fhir.coding import SYSTEM_LABELS
from cds_service.hooks.registry import SERVICES
from cds_service.hooks.request import HookRequest
from cds_service.payer import coverage as cov
from cds_service.payer.coverage import COVERAGE_CLASS
from cds_service.payer.models import LineOfBusiness, PayerConfig
from cds_service.policy.models import DiagnosisGroup, Policy, ProcedureCode
from cds_service.respond.coverage_info import COVERAGE_INFORMATION

SERVICE = SERVICES["crd-order-sign"]
PATIENT = "preview-patient"
NO_INDICATION = "no recognised indication"
UNKNOWN_PLAN = "plan type not mapped"
NO_COVERAGE = "no active coverage"
CRITERION = "reason showing: "
CODED = ("covered", "pa-needed", "doc-needed", "doc-purpose", "info-needed")
ALL_CRITERIA = "reasons showing every provable criterion"


@dataclass(frozen=True)
class Scenario:
    """One synthesised hook call: what it stands for and the request an EHR would send."""

    code: ProcedureCode
    member: str
    """The line of business's name, ``UNKNOWN_PLAN`` or ``NO_COVERAGE``."""
    indication: str
    """The indication's name or ``NO_INDICATION``."""
    request: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{code_label(self.code)} \u00b7 {self.member} \u00b7 {self.indication}"


@dataclass(frozen=True)
class Preview:
    scenario: Scenario
    cards: list[dict[str, Any]]
    """The cards of the hook response, as JSON sent to the EHR."""
    coverage: dict[str, list[str]] = field(default_factory=dict)
    """The coded values of the order's coverage-information (``covered``, ``pa-needed``,
    ``doc-needed``, ``doc-purpose``, ``info-needed``), as sent; empty when none was sent."""

    @property
    def label(self) -> str:
        return self.scenario.label


FACETS = ("member", "code", "indication")
"""What a preview can be filtered by; also the page's query parameters."""


def facets(scenario: Scenario) -> dict[str, str]:
    """The scenario's value of each facet, as the page shows it."""
    return {"member": scenario.member, "code": code_label(scenario.code),
            "indication": scenario.indication}


def choices(scenarios: Iterable[Scenario]) -> dict[str, list[str]]:
    """Each facet's values, in the order the scenarios first have them."""
    found: dict[str, dict[str, None]] = {name: {} for name in FACETS}
    for scenario in scenarios:
        for name, value in facets(scenario).items():
            found[name].setdefault(value)
    return {name: list(values) for name, values in found.items()}


def matching(previews: Iterable[Preview], wanted: Mapping[str, str]) -> list[Preview]:
    """The previews whose scenario has every wanted facet value (an empty mapping: all)."""
    return [p for p in previews
            if all(facets(p.scenario)[name] == value for name, value in wanted.items())]


def code_label(code: ProcedureCode) -> str:
    return f"{SYSTEM_LABELS.get(code.system, code.system)} {code.code}"


def scenarios(policy: Policy, payer: PayerConfig) -> list[Scenario]:
    """Every code x member situation x indication (or none), in the policy's own order."""
    members: list[tuple[str, dict[str, Any] | None]] = []
    for line in payer.lines_of_business:
        coverage = coverage_for(line, payer)
        if coverage is not None:
            members.append((line.name, coverage))
    members.append((UNKNOWN_PLAN, _coverage(payer, "preview-unknown-plan", {"text": "Other plan"},
                                            [])))
    if payer.member_without_coverage == "card":
        # Otherwise such a call is refused (400, Da Vinci CRD 2.2): no card to show.
        members.append((NO_COVERAGE, None))
    reasons: list[tuple[str, list[dict[str, Any]]]] = [
        (ind.name, reason_codes(ind.name, ind.diagnoses)) for ind in policy.indications]
    # Each criterion an order can prove, alone and (when several) together: the answers
    # ``covered`` and ``conditional`` a determination with criteria gives.
    provable = list({c.quote: c for det in policy.determinations.values()
                     for c in (det.criteria.items if det.criteria else []) if c.diagnoses}.values())
    reasons += [(f"{CRITERION}{c.quote}", reason_codes(c.quote, c.diagnoses)) for c in provable]
    if len(provable) > 1:
        reasons.append((ALL_CRITERIA, [code for c in provable
                                       for code in reason_codes(c.quote, c.diagnoses)]))
    reasons.append((NO_INDICATION, []))
    return [Scenario(code, member, indication, _request(code, coverage, reason))
            for code in policy.codes
            for member, coverage in members
            for indication, reason in reasons]


async def preview(evaluator: Evaluator, policy: Policy, payer: PayerConfig) -> list[Preview]:
    """The cards each scenario gets from the hook-answering code (no EHR to query: the requests
    carry everything as prefetch)."""
    out = []
    for scenario in scenarios(policy, payer):
        request = HookRequest.model_validate(scenario.request)
        evaluation = await evaluator.evaluate(request, SERVICE, None)
        answer = evaluation.response.to_json_dict()
        out.append(Preview(scenario, answer["cards"], coded_values(answer)))
    return out


def coded_values(answer: dict[str, Any]) -> dict[str, list[str]]:
    """The coded sub-extensions of the (one) coverage-information a preview call gets."""
    found: dict[str, list[str]] = {}
    for action in answer.get("systemActions") or []:
        for ext in action["resource"].get("extension", []):
            if ext.get("url") != COVERAGE_INFORMATION:
                continue
            for sub in ext["extension"]:
                if sub["url"] in CODED:
                    found.setdefault(sub["url"], []).append(sub["valueCode"])
    return found


def coverage_for(line: LineOfBusiness, payer: PayerConfig) -> dict[str, Any] | None:
    """A Coverage the payer file maps to ``line``; None when every candidate maps to another line
    first (the first matching line wins, so such a line is never reached)."""
    candidates = [_coverage(payer, f"preview-{line.id}",
                            {"coding": [{"system": ref.system, "code": ref.code}]}, [])
                  for ref in line.coverage_type]
    candidates += [_coverage(payer, f"preview-{line.id}", None, [{
        "type": {"coding": [{"system": COVERAGE_CLASS, "code": rule.type}]},
        "value": rule.value}]) for rule in line.coverage_class]
    for candidate in candidates:
        found = cov.line_of_business(payer, candidate).line
        if found is not None and found.id == line.id:
            return candidate
    return None


def reason_codes(name: str, diagnoses: list[DiagnosisGroup]) -> list[dict[str, Any]]:
    """The first code of each diagnosis group, once: the least an order's reasons must hold (a
    code may fill several groups, as C7B.02 does for neuroendocrine liver metastases)."""
    refs = list(dict.fromkeys(group.any_of[0] for group in diagnoses))
    return [{"coding": [{"system": ref.system, "code": ref.code}], "text": name}
            for ref in refs]


def _coverage(payer: PayerConfig, rid: str, type_: dict[str, Any] | None,
              classes: list[dict[str, Any]]) -> dict[str, Any]:
    payor: dict[str, Any] = {"display": payer.name}
    if payer.identifiers:
        # With identifiers configured, a Coverage must name this payer to be answered at all.
        payor["identifier"] = payer.identifiers[0].model_dump()
    resource: dict[str, Any] = {
        "resourceType": "Coverage", "id": rid, "status": "active",
        "beneficiary": {"reference": f"Patient/{PATIENT}"}, "payor": [payor]}
    if type_ is not None:
        resource["type"] = type_
    if classes:
        resource["class"] = classes
    return resource


def _request(code: ProcedureCode, coverage: dict[str, Any] | None,
             reasons: list[dict[str, Any]]) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": f"preview-{code.code}", "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": code.system, "code": code.code, "display": code.display}]},
        "subject": {"reference": f"Patient/{PATIENT}"}}
    if reasons:
        order["reasonCode"] = reasons
    entries = [{"resource": coverage}] if coverage is not None else []
    return {
        "hook": SERVICE.hook,
        "hookInstance": f"preview-{code.code}",
        "context": {"userId": "Practitioner/preview", "patientId": PATIENT,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": order}]}},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": PATIENT},
            "coverage": {"resourceType": "Bundle", "type": "searchset", "entry": entries}},
        # As a CRD 2.2 client asks (the decision's own vocabulary: an older release's client
        # gets the same answer in its codes, crd_versions).
        "extension": {"davinci-crd.requestedVersion": NEWEST.declared},
    }
