"""Matching orders to policies and reasons to indications (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.evaluate import Evaluator
from cds_service.fhir.coding import CodeRef
from cds_service.fhir.orders import BILLING_OPTIONS, Order, order_codes, orders_in_scope
from cds_service.knowledge import load_knowledge

KNOWLEDGE = load_knowledge(None, None)
EVALUATOR = Evaluator(KNOWLEDGE, public_base_url="https://cds.example")
POLICY = KNOWLEDGE.policies.get("cryosurgical-ablation-liver-tumors").policy  # type: ignore[union-attr]
CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def order(*codings: tuple[str, str], rtype: str = "ServiceRequest", **extra: Any) -> Order:
    return Order(0, {"resourceType": rtype, "id": "o1",
                     "code": {"coding": [{"system": s, "code": c} for s, c in codings]}, **extra})


@pytest.mark.parametrize("code", ["47371", "47381", "47383"])
def test_each_policy_cpt_code_matches(code: str) -> None:
    match = EVALUATOR.match(order((CPT, code)))
    assert match is not None and match[1].code == code


@pytest.mark.parametrize("code", ["47382", "47370", "47380", "4738", "473833"])
def test_near_miss_codes_do_not_match(code: str) -> None:
    assert EVALUATOR.match(order((CPT, code))) is None


def test_cpt_oid_system_matches() -> None:
    assert EVALUATOR.match(order(("urn:oid:2.16.840.1.113883.6.12", "47383"))) is not None


def test_same_code_in_another_system_does_not_match() -> None:
    assert EVALUATOR.match(order(("http://snomed.info/sct", "47383"))) is None


def test_only_service_requests_are_matched() -> None:
    assert EVALUATOR.match(order((CPT, "47383"), rtype="DeviceRequest")) is None


def test_crd_billing_options_on_a_clinically_coded_order_match() -> None:
    o = order(("http://snomed.info/sct", "233162009"))
    o.resource["code"]["extension"] = [{"url": BILLING_OPTIONS, "valueCodeableConcept": {
        "coding": [{"system": CPT, "code": "47383"}]}}]
    assert list(order_codes(o.resource))[-1] == (CPT, "47383")
    assert EVALUATOR.match(o) is not None


def test_order_select_scope_is_the_selections() -> None:
    entries = [{"resource": {"resourceType": "ServiceRequest", "id": i}} for i in ("a", "b")]
    assert [o.id for o in orders_in_scope(entries, ["ServiceRequest/b"])] == ["b"]
    assert [o.id for o in orders_in_scope(entries, None)] == ["a", "b"]


@pytest.mark.parametrize(("reasons", "expected"), [
    ([(ICD, "C22.0")], ["hepatocellular-carcinoma"]),
    ([(ICD, "C220")], ["hepatocellular-carcinoma"]),
    ([("urn:oid:2.16.840.1.113883.6.90", "C22.0")], ["hepatocellular-carcinoma"]),
    ([(ICD, "C7B.02")], ["neuroendocrine-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C18.7")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C18.0")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C19")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C20")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7")], []),            # liver metastasis, primary unknown
    ([(ICD, "C18.7")], []),            # colon cancer without liver metastasis
    ([(ICD, "C22.1")], []),            # intrahepatic bile duct carcinoma: not HCC
    ([(ICD, "C21.0"), (ICD, "C78.7")], []),  # anal primary is not colorectal here
    ([(ICD, "C22.0"), (ICD, "C7B.02")], ["hepatocellular-carcinoma",
                                         "neuroendocrine-liver-metastases"]),
    ([("http://snomed.info/sct", "C22.0")], []),
])
def test_indications_from_reason_codes(reasons: list[tuple[str, str]],
                                       expected: list[str]) -> None:
    assert [i.id for i in POLICY.indications_for(reasons)] == expected


def test_code_ref_descendants_only_when_asked() -> None:
    assert CodeRef(system=ICD, code="C18", descendants=True).matches(ICD, "C18.9")
    assert not CodeRef(system=ICD, code="C18").matches(ICD, "C18.9")
    assert CodeRef(system=ICD, code="C18").matches(ICD, "c18")
