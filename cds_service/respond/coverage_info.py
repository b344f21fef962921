"""Da Vinci CRD coverage-information system action (CRD STU 2.2 cards.md "Coverage Information").

An ``update`` of the draft order that changes nothing but the coverage-information extension
(§resp-37), one per order evaluated against a known coverage. Invariant q2: a ``not-covered``
assertion never carries ``pa-needed``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cds_service.fhir.clean import pruned
from cds_service.fhir.coding import elements
from cds_service.hooks.response import Action
from cds_service.respond.finding import Finding

COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
# The IG's own 2.2 examples still code coverage details in the temp system; valid in 2.1 and 2.2.
COVERAGE_DETAIL_SYSTEM = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"


def coverage_information(f: Finding, *, assertion_id: str, today: date,
                         crd_version: str) -> dict[str, Any]:
    det = f.determination
    assert det is not None and f.coverage_reference is not None
    detail: list[dict[str, Any]] = []
    if crd_version == "2.2":
        detail.append({"url": "category", "valueCode": "cat-other"})  # 2.2 only
    detail += [
        {"url": "code", "valueCodeableConcept": {"coding": [
            {"system": COVERAGE_DETAIL_SYSTEM, "code": "policy-link"}]}},
        {"url": "value", "valueUrl": f.policy_url},
    ]
    return {"url": COVERAGE_INFORMATION, "extension": [
        {"url": "coverage", "valueReference": {"reference": f.coverage_reference}},
        {"url": "covered", "valueCode": det.covered},
        {"url": "billingCode", "valueCoding": {
            "system": f.code.system, "code": f.code.code, "display": f.code.display}},
        {"url": "reason", "valueCodeableConcept": {"text": det.statement.quote}},
        {"url": "detail", "extension": detail},
        {"url": "date", "valueDate": today.isoformat()},
        {"url": "coverage-assertion-id", "valueString": assertion_id},
    ]}


def build_action(f: Finding, *, assertion_id: str, today: date, crd_version: str) -> Action:
    # The order as received, less what is not valid FHIR JSON (``"reasonCode": []``, nulls).
    resource = dict(pruned(f.order.resource))
    # Replace an earlier assertion for the same coverage, keep every other extension (§resp-37).
    kept = [ext for ext in elements(resource.get("extension"))
            if not (isinstance(ext, dict) and ext.get("url") == COVERAGE_INFORMATION
                    and _coverage_of(ext) == f.coverage_reference)]
    resource["extension"] = [
        *kept, coverage_information(f, assertion_id=assertion_id, today=today,
                                    crd_version=crd_version)]
    det = f.determination
    assert det is not None
    return Action(
        type="update",
        description=f"Record {f.policy.payer} coverage information on the order "
                    f"{f.order.describe()}: {det.phrase}",
        resource=resource,
    )


def _coverage_of(ext: dict[str, Any]) -> str | None:
    for sub in elements(ext.get("extension")):
        if isinstance(sub, dict) and sub.get("url") == "coverage":
            ref = sub.get("valueReference")
            return ref.get("reference") if isinstance(ref, dict) else None
    return None
