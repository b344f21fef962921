"""Matching orders to policies and reasons to indications (pure)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_service.evaluate import Evaluator
from cds_service.fhir.coding import CodeRef
from cds_service.fhir.orders import BILLING_OPTIONS, ORDER_TYPES, Order, describe, order_codes
from cds_service.knowledge import load_knowledge

KNOWLEDGE = load_knowledge(None, None)
EVALUATOR = Evaluator(KNOWLEDGE, public_base_url="https://cds.example")
POLICY = KNOWLEDGE.policies.get("cryosurgical-ablation-liver-tumors").policy  # type: ignore[union-attr]
CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def order(*codings: tuple[str, str], rtype: str = "ServiceRequest", **extra: Any) -> Order:
    return Order(0, {"resourceType": rtype, "id": "o1",
                     "code": {"coding": [{"system": s, "code": c} for s, c in codings]}, **extra},
                 "context.draftOrders.entry[0].resource")


def match(o: Order) -> Any:
    found = EVALUATOR.match(o.codes(), date(2026, 1, 1))
    return found[0] if found else None


@pytest.mark.parametrize("code", ["47371", "47381", "47383"])
def test_each_policy_cpt_code_matches(code: str) -> None:
    found = match(order((CPT, code)))
    assert found is not None and found[1].code == code


@pytest.mark.parametrize("code", ["47382", "47370", "47380", "4738", "473833"])
def test_near_miss_codes_do_not_match(code: str) -> None:
    assert match(order((CPT, code))) is None


def test_cpt_oid_system_matches() -> None:
    assert match(order(("urn:oid:2.16.840.1.113883.6.12", "47383"))) is not None


def test_same_code_in_another_system_does_not_match() -> None:
    assert match(order(("http://snomed.info/sct", "47383"))) is None


def test_a_code_in_an_element_the_order_type_does_not_use_is_not_read() -> None:
    # DeviceRequest names the device in codeCodeableConcept, not in ``code``.
    assert match(order((CPT, "47383"), rtype="DeviceRequest")) is None


CODED = {"coding": [{"system": CPT, "code": "47383", "display": "Cryoablation"}]}
# Where each CRD request type carries what is ordered (Da Vinci CRD 2.2 request profiles).
PLACES: dict[str, dict[str, Any]] = {
    "ServiceRequest": {"code": CODED},
    "DeviceRequest": {"codeCodeableConcept": CODED},
    "MedicationRequest": {"medicationCodeableConcept": CODED},
    "NutritionOrder": {"oralDiet": {"type": [CODED]}},
    "VisionPrescription": {"lensSpecification": [{"product": CODED}]},
    "CommunicationRequest": {"payload": [{"extension": [{
        "url": "http://hl7.org/fhir/5.0/StructureDefinition/"
               "extension-CommunicationRequest.payload.content[x]",
        "valueCodeableConcept": CODED}], "contentString": "x"}]},
    "Appointment": {"serviceType": [CODED]},
}


def test_every_order_type_row_has_an_example() -> None:
    assert set(PLACES) == set(ORDER_TYPES)


@pytest.mark.parametrize("rtype", sorted(PLACES))
def test_every_crd_order_type_is_matched_by_its_own_code_element(rtype: str) -> None:
    resource = {"resourceType": rtype, "id": "x", **PLACES[rtype]}
    assert (CPT, "47383") in list(order_codes(resource))
    assert describe(resource) == "Cryoablation"


@pytest.mark.parametrize("shape", [1, "x", None, [1, "y"], {"coding": "z"}, {"coding": [3]}])
def test_wrong_shapes_have_no_codes(shape: Any) -> None:
    for rtype in ORDER_TYPES:
        assert list(order_codes({"resourceType": rtype, "code": shape, "oralDiet": shape,
                                 "lensSpecification": shape, "serviceType": shape,
                                 "payload": shape})) == []


def test_an_appointment_booked_for_a_request_is_matched_by_either_code() -> None:
    appointment = {"resourceType": "Appointment", "id": "a"}
    o = Order(0, {"resourceType": "ServiceRequest", "code": CODED}, "p", via=appointment)
    assert match(o) is not None
    o = Order(0, {"resourceType": "ServiceRequest"}, "p",
              via={**appointment, "serviceType": [CODED]})
    assert match(o) is not None


def test_crd_billing_options_on_a_clinically_coded_order_match() -> None:
    o = order(("http://snomed.info/sct", "233162009"))
    o.resource["code"]["extension"] = [{"url": BILLING_OPTIONS, "valueCodeableConcept": {
        "coding": [{"system": CPT, "code": "47383"}]}}]
    assert list(order_codes(o.resource))[-1] == (CPT, "47383")
    assert match(o) is not None


@pytest.mark.parametrize(("reasons", "expected"), [
    ([(ICD, "C22.0")], ["hepatocellular-carcinoma"]),
    ([(ICD, "C220")], ["hepatocellular-carcinoma"]),
    ([("urn:oid:2.16.840.1.113883.6.90", "C22.0")], ["hepatocellular-carcinoma"]),
    ([(ICD, "C7B.02")], ["neuroendocrine-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C18.7")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C18.0")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C19")], ["colorectal-liver-metastases"]),
    ([(ICD, "C78.7"), (ICD, "C20")], ["colorectal-liver-metastases"]),
    ([(ICD, "Z85.038"), (ICD, "C78.7")], ["colorectal-liver-metastases"]),  # primary removed
    ([(ICD, "C7B.8"), (ICD, "C78.7")], ["neuroendocrine-liver-metastases"]),
    ([(ICD, "C7B.8")], []),            # secondary neuroendocrine tumour, site not given
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


def test_a_payer_file_assertion_that_2_1_would_turn_into_oth_needs_a_reason() -> None:
    # detail-code is 2.2 only; 2.1 clients get OTH in its place, and q6 ties OTH to a reason.
    from pydantic import ValidationError

    from cds_service.payer.models import Assertion
    with pytest.raises(ValidationError, match="q6"):
        Assertion.model_validate({"covered": "conditional", "info_needed": ["detail-code"]})
    with pytest.raises(ValidationError, match="q9"):
        Assertion.model_validate({"covered": "indeterminate"})
    with pytest.raises(ValidationError, match="q2"):
        Assertion.model_validate({"covered": "not-covered", "pa_needed": "no-auth"})
    with pytest.raises(ValidationError, match="q3"):
        Assertion.model_validate({"covered": "conditional"})
