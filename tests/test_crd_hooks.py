"""Every Da Vinci CRD hook we answer and every CRD order type, through the HTTP API as an EHR
calls it: signed JWTs, production trust rules, decision records on SQLite and PostgreSQL, and
the EHR's FHIR server as a plain function.

CRD 2.2 §hook-16, §resp-26: on a primary hook (order-sign, order-dispatch, appointment-book) every
in-scope order gets exactly one coverage-information action; hooks.md error handling: the
Coverage cases get 400 with an OperationOutcome saying which.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from sqlalchemy import select

from cds_service.payer.models import BUNDLED_PAYER_FILE
from cds_service.store.tables import decision
from tests.auth.ehr import BASE, EHR, serve, settings_for, with_fhir_access, write_trust
from tests.store.databases import database_url, migrated_url
from tests.support import ROOT, example, recorded_decision

__all__ = ["database_url", "migrated_url"]

COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
ORDER_POLICIES = ROOT / "tests" / "data" / "order-type-policies"
NAIC = "http://hl7.org/fhir/sid/us-naic"
BOOK = "appointment-book-47383-medicare-advantage-based-on-service-request"
DISPATCH = "order-dispatch-47381-commercial-neuroendocrine-liver-metastases"
SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"
HOOK_IDS = {"order-sign": "crd-order-sign", "order-select": "crd-order-select",
            "appointment-book": "crd-appointment-book", "order-dispatch": "crd-order-dispatch"}

Fhir = Callable[[httpx2.Request], httpx2.Response]


class Ehr:
    """One EHR calling the service: its key, the trust file naming it, its FHIR server."""

    def __init__(self, tmp_path: Path, database: str) -> None:
        self.tmp_path = tmp_path
        self.database = database
        self.client = EHR()
        self.trust = write_trust(tmp_path / "trusted-clients.json", self.client.entry())
        self.fhir_requests: list[httpx2.Request] = []
        self.fhir_resources: dict[str, dict[str, Any]] = {}

    def fhir(self, request: httpx2.Request) -> httpx2.Response:
        self.fhir_requests.append(request)
        path = request.url.path.removeprefix("/fhir/")
        if path in self.fhir_resources:
            return httpx2.Response(200, json=self.fhir_resources[path],
                                   headers={"Content-Type": "application/fhir+json"})
        return httpx2.Response(404)

    def call(self, body: dict[str, Any], **settings: Any) -> httpx2.Response:
        service = HOOK_IDS[body["hook"]]
        settings = {"record_decisions": True, "database_url": self.database, **settings}
        with serve(settings_for(self.tmp_path, self.trust, **settings), self.fhir) as http:
            self.http = http
            return http.post(f"/cds-services/{service}", json=body,
                             headers=self.client.auth(f"{BASE}/cds-services/{service}"))

    def record(self, assertion_id: str) -> dict[str, Any]:
        runtime = self.http.app.state.runtime  # type: ignore[attr-defined]
        return recorded_decision(runtime.records.db, assertion_id)


@pytest.fixture
def ehr(tmp_path: Path, migrated_url: str) -> Iterator[Ehr]:
    yield Ehr(tmp_path, migrated_url)


def actions(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Coverage-information systemActions by ``Type/id`` of the resource they update."""
    found = {}
    for action in answer["systemActions"]:
        resource = action["resource"]
        [ext] = [e for e in resource["extension"] if e["url"] == COVERAGE_INFORMATION]
        found[f"{resource['resourceType']}/{resource['id']}"] = {
            s["url"]: s for s in ext["extension"]}
    assert len(found) == len(answer["systemActions"])
    return found


def covered(info: dict[str, Any]) -> str:
    return str(info["covered"]["valueCode"])


# -- appointment-book --------------------------------------------------------------------------

def test_booking_the_procedure_puts_the_card_and_coverage_information_on_its_service_request(
        ehr: Ehr) -> None:
    response = ehr.call(example(BOOK))
    assert response.status_code == 200, response.text
    answer = response.json()
    [card] = answer["cards"]
    assert card["summary"].startswith("Not covered for this Medicare Advantage member")
    assert card["suggestions"][0]["actions"][0]["resourceId"] == "Appointment/appt-47383"
    info = actions(answer)
    assert list(info) == ["ServiceRequest/sr-47383"]
    assert covered(info["ServiceRequest/sr-47383"]) == "not-covered"
    record = ehr.record(info["ServiceRequest/sr-47383"]["coverage-assertion-id"]["valueString"])
    assert record["hook"] == "appointment-book"
    assert record["orders"][0]["resourceType"] == "ServiceRequest"


def test_the_service_request_an_appointment_is_based_on_is_read_from_the_ehr_when_not_prefetched(
        ehr: Ehr) -> None:
    body = with_fhir_access(example(BOOK))
    service_request = body["prefetch"].pop("serviceRequests")["entry"][0]["resource"]
    ehr.fhir_resources["ServiceRequest/sr-47383"] = service_request
    response = ehr.call(body)
    assert response.status_code == 200, response.text
    assert list(actions(response.json())) == ["ServiceRequest/sr-47383"]
    assert [r.url.path for r in ehr.fhir_requests] == ["/fhir/ServiceRequest/sr-47383"]


def test_an_appointment_whose_request_cannot_be_had_is_matched_by_its_own_codes(
        ehr: Ehr) -> None:
    body = example(BOOK)
    del body["prefetch"]["serviceRequests"]
    appointment = body["context"]["appointments"]["entry"][0]["resource"]
    appointment["serviceType"] = [{"coding": [
        {"system": "http://www.ama-assn.org/go/cpt", "code": "47383"}]}]
    response = ehr.call(body)
    assert response.status_code == 200, response.text
    info = actions(response.json())
    assert list(info) == ["Appointment/appt-47383"]
    assert covered(info["Appointment/appt-47383"]) == "not-covered"


# -- order-dispatch ----------------------------------------------------------------------------

def test_dispatching_the_referral_gets_the_card_without_removal_and_coverage_information(
        ehr: Ehr) -> None:
    response = ehr.call(example(DISPATCH))
    assert response.status_code == 200, response.text
    answer = response.json()
    [card] = answer["cards"]
    assert card["summary"].startswith("Not medically necessary for this Commercial member")
    assert "suggestions" not in card  # the order is signed and being sent, not a draft
    info = actions(answer)
    assert list(info) == ["ServiceRequest/sr-47381"]
    record = ehr.record(info["ServiceRequest/sr-47381"]["coverage-assertion-id"]["valueString"])
    assert record["hook"] == "order-dispatch" and record["service"] == "crd-order-dispatch"


def test_a_dispatched_order_not_prefetched_is_read_from_the_ehr(ehr: Ehr) -> None:
    body = with_fhir_access(example(DISPATCH))
    order = body["prefetch"].pop("serviceRequests")["entry"][0]["resource"]
    ehr.fhir_resources["ServiceRequest/sr-47381"] = order
    response = ehr.call(body)
    assert response.status_code == 200, response.text
    assert list(actions(response.json())) == ["ServiceRequest/sr-47381"]


def test_a_dispatched_order_neither_prefetched_nor_readable_is_412(ehr: Ehr) -> None:
    body = example(DISPATCH)
    del body["prefetch"]["serviceRequests"]
    response = ehr.call(body)
    assert response.status_code == 412, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["context.dispatchedOrders[0]"]


# -- every order of a primary hook -------------------------------------------------------------

def test_every_crd_order_type_gets_exactly_one_coverage_information_action(ehr: Ehr) -> None:
    body = example("order-sign-every-crd-order-type")
    response = ehr.call(body)
    assert response.status_code == 200, response.text
    info = actions(response.json())
    sent = [f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in body["context"]["draftOrders"]["entry"]]
    assert list(info) == sent
    assert {k: covered(v) for k, v in info.items()} == {
        ref: "not-covered" if ref == "ServiceRequest/sr-47383" else "indeterminate"
        for ref in sent}
    for ref, parts in info.items():
        if ref != "ServiceRequest/sr-47383":
            assert "No medical policy" in parts["reason"]["valueCodeableConcept"]["text"]
            assert "billingCode" not in parts
    ids = [p["coverage-assertion-id"]["valueString"] for p in info.values()]
    assert len(set(ids)) == len(ids)
    record = ehr.record(ids[1])
    assert [a["covered"] for a in record["coverageAssertions"]] == [
        "not-covered"] + ["indeterminate"] * 5
    assert record["coverageAssertions"][1]["policy"] is None


def test_the_payer_file_decides_what_unmatched_orders_are_asserted(
        ehr: Ehr, tmp_path: Path) -> None:
    payer = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    payer["unmatched_orders"] = {"covered": "covered", "pa_needed": "no-auth"}
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump(payer))
    response = ehr.call(example("order-sign-unrelated-orders"), payer_file=path)
    assert response.status_code == 200, response.text
    for parts in actions(response.json()).values():
        assert covered(parts) == "covered" and parts["pa-needed"]["valueCode"] == "no-auth"
        assert "reason" not in parts


def test_an_unknown_plan_is_indeterminate_in_2_2_and_conditional_with_oth_in_2_1(
        ehr: Ehr) -> None:
    body = example("order-sign-47383-unknown-plan")
    info = actions(ehr.call(body).json())["ServiceRequest/sr-47383"]
    assert covered(info) == "indeterminate" and "info-needed" not in info
    assert "plan type could not be determined" in info["reason"]["valueCodeableConcept"]["text"]
    body["extension"] = {"davinci-crd.requestedVersion": "2.1"}
    info = actions(ehr.call(body).json())["ServiceRequest/sr-47383"]
    # 2.1 has no indeterminate: conditional needs info-needed (q3), OTH needs a reason (q6).
    assert covered(info) == "conditional"
    assert info["info-needed"]["valueCode"] == "OTH" and "reason" in info


def test_coverage_info_false_means_no_actions_on_any_hook(ehr: Ehr) -> None:
    for name in (BOOK, DISPATCH, "order-sign-every-crd-order-type"):
        body = example(name)
        body["extension"] = {"davinci-crd.configuration": {"coverage-info": False}}
        response = ehr.call(body)
        assert response.status_code == 200, response.text
        assert response.json()["systemActions"] == [] and response.json()["cards"]


# -- Coverage errors (CRD 2.2 hooks.md, error handling) ----------------------------------------

def with_payer_identifier(tmp_path: Path) -> Path:
    payer = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    payer["identifiers"] = [{"system": NAIC, "value": "99999"}]
    path = tmp_path / "payer-with-id.yaml"
    path.write_text(yaml.safe_dump(payer))
    return path


def coverage_entry(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["prefetch"]["coverage"]["entry"][0]["resource"])


def no_coverage(body: dict[str, Any], tmp: Path) -> dict[str, Any]:
    body["prefetch"]["coverage"] = None
    return {}


def two_coverages(body: dict[str, Any], tmp: Path) -> dict[str, Any]:
    second = copy.deepcopy(coverage_entry(body))
    second["id"] = "cov-second"
    body["prefetch"]["coverage"]["entry"].append({"resource": second})
    return {}


def no_payer_identifier(body: dict[str, Any], tmp: Path) -> dict[str, Any]:
    return {"payer_file": with_payer_identifier(tmp)}


def another_payer(body: dict[str, Any], tmp: Path) -> dict[str, Any]:
    body["prefetch"]["coverage"]["entry"][0]["resource"]["payor"][0]["identifier"] = {
        "system": NAIC, "value": "11111"}
    return {"payer_file": with_payer_identifier(tmp)}


@pytest.mark.parametrize(("change", "says", "where"), [
    (no_coverage, "No active Coverage for the member is accessible", "Coverage"),
    (two_coverages, "2 active Coverages of the member are for this payer", "Coverage"),
    (no_payer_identifier, "names no payer identifier", "Coverage.payor"),
    (another_payer, "does not name this payer", "Coverage.payor"),
], ids=["none", "several", "no-payer-identifier", "other-payer"])
@pytest.mark.parametrize("name", [SIGN, BOOK, DISPATCH])
def test_each_coverage_error_is_a_400_saying_which_and_is_recorded(
        ehr: Ehr, tmp_path: Path, name: str, change: Any, says: str, where: str) -> None:
    body = example(name)
    settings = change(body, tmp_path)
    response = ehr.call(body, **settings)
    assert response.status_code == 400, response.text
    [issue] = response.json()["issue"]
    assert says in issue["diagnostics"] and issue["expression"] == [where]
    runtime = ehr.http.app.state.runtime  # type: ignore[attr-defined]
    with runtime.records.db.read() as conn:
        [row] = conn.execute(select(decision.c.status, decision.c.problem)).all()
    assert row.status == 400 and row.problem == [{"code": "invalid", "expression": [where]}]


def test_a_payer_may_prefer_the_informational_card_for_members_without_coverage(
        ehr: Ehr, tmp_path: Path) -> None:
    payer = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    payer["member_without_coverage"] = "card"
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump(payer))
    response = ehr.call(example("order-sign-47383-no-coverage-null"), payer_file=path)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "info"
    # No Coverage to cite, so no coverage information can be made (CRD: coverage is 1..1).
    assert response.json()["systemActions"] == []


# -- order types matched by drop-in policy files -----------------------------------------------

DEVICE = {"resourceType": "DeviceRequest", "id": "devreq-bed", "status": "draft",
          "intent": "original-order", "subject": {"reference": "Patient/pat-cryo-1"},
          "authoredOn": "2025-06-02T09:30:00-04:00",
          "requester": {"reference": "Practitioner/pract-hep-1"}}
BED = {"coding": [{"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
                   "code": "E0250"}]}
IMURAN = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                      "code": "105611"}]}


def signing(*orders: dict[str, Any]) -> dict[str, Any]:
    body = example(SIGN)
    body["context"]["draftOrders"]["entry"] = [{"resource": o} for o in orders]
    return body


def medication_request(**medication: Any) -> dict[str, Any]:
    order = dict(example("order-sign-mixed-orders")["context"]["draftOrders"]["entry"][2][
        "resource"])
    order.pop("medicationCodeableConcept")
    order.update(medication)
    return order


@pytest.mark.parametrize("order", [
    {**DEVICE, "codeCodeableConcept": BED},
    {**DEVICE, "codeReference": {"reference": "#bed"},
     "contained": [{"resourceType": "Device", "id": "bed", "type": BED}]},
], ids=["code", "contained-device"])
def test_a_device_policy_file_matches_device_requests(ehr: Ehr, order: dict[str, Any]) -> None:
    response = ehr.call(signing(order), policy_dir=ORDER_POLICIES)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["summary"].startswith(
        "Not covered for this Medicare Advantage member: fixed-height hospital bed")
    info = actions(response.json())["DeviceRequest/devreq-bed"]
    assert covered(info) == "not-covered"
    assert info["billingCode"]["valueCoding"]["code"] == "E0250"


def test_a_medication_policy_file_matches_medication_requests(ehr: Ehr) -> None:
    medication = {"resourceType": "Medication", "id": "med-imuran", "code": IMURAN}
    by_reference = medication_request(medicationReference={"reference": "Medication/med-imuran"})
    body = signing(medication_request(medicationCodeableConcept=IMURAN),
                   {**by_reference, "id": "medrx-by-reference"})
    body["prefetch"]["medications"] = {"resourceType": "Bundle", "type": "searchset",
                                       "entry": [{"resource": medication}]}
    response = ehr.call(body, policy_dir=ORDER_POLICIES)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert len(cards) == 2 and all("Imuran 50 mg tablets" in c["summary"] for c in cards)
    assert {k: covered(v) for k, v in actions(response.json()).items()} == {
        "MedicationRequest/medrx-ondansetron": "not-covered",
        "MedicationRequest/medrx-by-reference": "not-covered"}


def test_order_select_evaluates_only_selected_orders_and_asserts_only_matched_ones(
        ehr: Ehr) -> None:
    body = example("order-select-47383-medicare-advantage-hepatocellular-carcinoma")
    response = ehr.call(body)
    assert response.status_code == 200, response.text
    # Secondary hook: coverage information for the matched selection only (CRD §hook-34).
    assert list(actions(response.json())) == ["ServiceRequest/sr-47383"]


# -- what the context names, read as the EHR meant it -----------------------------------------

def mri_request() -> dict[str, Any]:
    order = dict(example("order-sign-mixed-orders")["context"]["draftOrders"]["entry"][0][
        "resource"])
    return {**order, "status": "active"}


def booked_for(*based_on: dict[str, Any], **appointment: Any) -> dict[str, Any]:
    body = example(BOOK)
    entry = body["context"]["appointments"]["entry"][0]["resource"]
    entry["basedOn"] = list(based_on)
    entry.update(appointment)
    return body


def test_an_appointment_for_several_requests_asserts_on_each_of_them(ehr: Ehr) -> None:
    body = booked_for({"reference": "ServiceRequest/sr-mri-abdomen"},
                      {"reference": "ServiceRequest/sr-47383"})
    body["prefetch"]["serviceRequests"]["entry"].append({"resource": mri_request()})
    answer = ehr.call(body).json()
    assert [c["extension"]["davinci-crd.associated-resource"][0]["reference"]
            for c in answer["cards"]] == ["ServiceRequest/sr-47383"]
    assert {k: covered(v) for k, v in actions(answer).items()} == {
        "ServiceRequest/sr-mri-abdomen": "indeterminate", "ServiceRequest/sr-47383": "not-covered"}


def test_a_device_request_named_through_the_alternate_reference_extension_is_followed(
        ehr: Ehr) -> None:
    # CRD 2.2 appointment-book prefetch: basedOn.extension('...alternate-reference').value.
    device = {**DEVICE, "codeCodeableConcept": BED, "status": "active"}
    body = booked_for({"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/alternate-reference",
        "valueReference": {"reference": "DeviceRequest/devreq-bed"}}]})
    body["prefetch"]["deviceRequests"] = {"resourceType": "Bundle", "type": "searchset",
                                          "entry": [{"resource": device}]}
    answer = ehr.call(body, policy_dir=ORDER_POLICIES).json()
    assert list(actions(answer)) == ["DeviceRequest/devreq-bed"]
    assert covered(actions(answer)["DeviceRequest/devreq-bed"]) == "not-covered"


def test_a_request_named_twice_gets_one_card_and_one_assertion(ehr: Ehr) -> None:
    body = example(DISPATCH)
    body["context"]["dispatchedOrders"] *= 2
    answer = ehr.call(body).json()
    assert len(answer["cards"]) == 1 and list(actions(answer)) == ["ServiceRequest/sr-47381"]
    booking = example(BOOK)
    appointments = booking["context"]["appointments"]["entry"]
    second = copy.deepcopy(appointments[0])
    second["resource"]["id"] = "appt-47383-session-2"
    appointments.append(second)
    answer = ehr.call(booking).json()
    assert len(answer["cards"]) == 1 and list(actions(answer)) == ["ServiceRequest/sr-47383"]


def test_a_request_that_cannot_be_read_is_indeterminate_never_no_policy(ehr: Ehr) -> None:
    # No one looked at the order the appointment is booked for: saying that no policy applies to
    # it would be false for a cryoablation (CRD §found-9: as accurate as a phone call).
    body = example(BOOK)
    del body["prefetch"]["serviceRequests"]
    info = actions(ehr.call(body).json())["Appointment/appt-47383"]
    assert covered(info) == "indeterminate"
    assert "could not be read" in info["reason"]["valueCodeableConcept"]["text"]
    order = medication_request(medicationReference={"reference": "Medication/not-sent"})
    info = actions(ehr.call(signing(order)).json())["MedicationRequest/medrx-ondansetron"]
    assert "could not be read" in info["reason"]["valueCodeableConcept"]["text"]


def test_an_appointments_own_reasons_count_for_the_request_it_is_booked_for(ehr: Ehr) -> None:
    body = example(BOOK)
    request = body["prefetch"]["serviceRequests"]["entry"][0]["resource"]
    reasons = request.pop("reasonCode")
    body["context"]["appointments"]["entry"][0]["resource"]["reasonCode"] = reasons
    [card] = ehr.call(body).json()["cards"]
    assert "the order names no reason" not in card["detail"]
    assert "Evidence: Hepatocellular carcinoma" in card["detail"]


def test_a_plan_the_policy_does_not_decide_for_is_named_not_called_unknown(
        ehr: Ehr, tmp_path: Path) -> None:
    payer = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    payer["lines_of_business"].append({"id": "medicaid", "name": "Medicaid", "coverage_type": [
        {"system": "https://nahdo.org/sopt", "code": "2", "descendants": True}]})
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump(payer))
    body = example(SIGN)
    coverage = body["prefetch"]["coverage"]["entry"][0]["resource"]
    coverage["type"] = {"coding": [{"system": "https://nahdo.org/sopt", "code": "21"}]}
    answer = ehr.call(body, payer_file=path).json()
    # No card: it could only quote what the policy says for the other plan types.
    assert answer["cards"] == []
    info = actions(answer)["ServiceRequest/sr-47383"]
    assert covered(info) == "indeterminate"
    assert info["reason"]["valueCodeableConcept"]["text"] == payer["undecided_plan_reason"]
    assert "states no determination for the member's plan type" in payer["undecided_plan_reason"]
    # It names the policy that does not decide, and the record says which.
    assert info["billingCode"]["valueCoding"]["code"] == "47383"
    assert {d["url"]: d for d in info["detail"]["extension"]}["value"]["valueUrl"].endswith(
        "/policies/cryosurgical-ablation-liver-tumors")


def test_a_coverage_without_an_id_is_a_400_not_silence(ehr: Ehr) -> None:
    body = example("order-sign-unrelated-orders")
    del body["prefetch"]["coverage"]["entry"][0]["resource"]["id"]
    response = ehr.call(body)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Coverage.id"]


@pytest.mark.parametrize("reference", [
    "Patient/pat-cryo-1", "Coverage/cov-commercial", "#local", "ServiceRequest?_id=sr-47381", "",
    "ServiceRequest/sr-47381\n"])
def test_a_dispatched_order_that_is_not_a_request_reference_is_a_400(
        ehr: Ehr, reference: str) -> None:
    body = example(DISPATCH)
    body["context"]["dispatchedOrders"] = [reference]
    response = ehr.call(body)
    assert response.status_code == 400, response.text


def test_dispatch_reads_versioned_references_and_needs_no_performer(ehr: Ehr) -> None:
    body = example(DISPATCH)
    body["context"]["dispatchedOrders"] = ["ServiceRequest/sr-47381/_history/3"]
    del body["context"]["performer"]
    body["context"]["fulfillmentTasks"] = {"resourceType": "Bundle", "type": "collection"}
    response = ehr.call(body)
    assert response.status_code == 200, response.text
    assert list(actions(response.json())) == ["ServiceRequest/sr-47381"]


# -- what an attacker tried (issue 12 style regressions) ---------------------------------------

def test_a_dispatched_order_on_another_server_is_not_read_as_the_ehrs(ehr: Ehr) -> None:
    body = with_fhir_access(example(DISPATCH))
    for elsewhere in ("https://other-ehr.example/fhir/ServiceRequest/sr-47381",
                      "https://ehr.example.org/fhir/../admin/ServiceRequest/sr-47381",
                      "https://ehr.example.org/fhirX/ServiceRequest/sr-47381"):
        body["context"]["dispatchedOrders"] = [elsewhere]
        response = ehr.call(body)
        assert response.status_code == 400, response.text
        assert "another server" in response.json()["issue"][0]["diagnostics"]
    assert ehr.fhir_requests == []
    body["context"]["dispatchedOrders"] = ["https://ehr.example.org/fhir/ServiceRequest/sr-47381"]
    assert list(actions(ehr.call(body).json())) == ["ServiceRequest/sr-47381"]


def test_an_appointment_based_on_another_servers_request_is_indeterminate(ehr: Ehr) -> None:
    body = with_fhir_access(booked_for(
        {"reference": "https://other-ehr.example/fhir/ServiceRequest/sr-47383"}))
    info = actions(ehr.call(body).json())["Appointment/appt-47383"]
    assert covered(info) == "indeterminate" and ehr.fhir_requests == []


def test_two_different_orders_under_one_id_are_a_400(ehr: Ehr) -> None:
    body = example(SIGN)
    entries = body["context"]["draftOrders"]["entry"]
    other = copy.deepcopy(entries[0])
    other["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "24627-2"}]}
    entries.insert(0, other)
    response = ehr.call(body)
    assert response.status_code == 400, response.text
    assert "same id ServiceRequest/sr-47383" in response.json()["issue"][0]["diagnostics"]


def test_an_order_carrying_a_second_assertion_for_our_coverage_gets_ours_alone(
        ehr: Ehr) -> None:
    first = ehr.call(example(SIGN)).json()
    order = first["systemActions"][0]["resource"]
    [ours] = [e for e in order["extension"] if e["url"] == COVERAGE_INFORMATION]
    forged = copy.deepcopy(ours)
    for sub in forged["extension"]:
        if sub["url"] == "covered":
            sub["valueCode"] = "covered"
    order["extension"].append(forged)
    body = example(SIGN)
    body["context"]["draftOrders"]["entry"][0]["resource"] = order
    [action] = ehr.call(body).json()["systemActions"]
    kept = [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION]
    assert len(kept) == 1
    assert {s["url"]: s for s in kept[0]["extension"]}["covered"]["valueCode"] == "not-covered"


@pytest.mark.parametrize("name", [SIGN, DISPATCH, BOOK])
def test_an_order_for_another_patient_is_a_400_not_decided_on_this_members_coverage(
        ehr: Ehr, name: str) -> None:
    body = example(name)
    if name == BOOK:
        resource = body["context"]["appointments"]["entry"][0]["resource"]
        resource["participant"][0]["actor"] = {"reference": "Patient/someone-else"}
    elif name == DISPATCH:
        resource = body["prefetch"]["serviceRequests"]["entry"][0]["resource"]
        resource["subject"] = {"reference": "Patient/someone-else"}
    else:
        resource = body["context"]["draftOrders"]["entry"][0]["resource"]
        resource["subject"] = {"reference": "https://ehr.example.org/fhir/Patient/someone-else"}
    response = ehr.call(body)
    assert response.status_code == 400, response.text
    assert "another patient" in response.json()["issue"][0]["diagnostics"]
