"""Every bad input gets a clear 4xx with an OperationOutcome, never a 500 or a stack trace."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import assert_outcome, call, example

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"
SELECT = "order-select-47383-medicare-advantage-hepatocellular-carcinoma"


def post_raw(client: TestClient, content: bytes, service: str = "crd-order-sign") -> Any:
    return client.post(f"/cds-services/{service}", content=content,
                       headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("content", [b"{not json", b"", b"   ", b"[1, 2]", b"\"text\"",
                                     b"{\"hook\": \"order-sign\",}", b"\xff\xfe"])
def test_malformed_json_gets_400(client: TestClient, content: bytes) -> None:
    assert_outcome(post_raw(client, content), 400)


@pytest.mark.parametrize("field", ["hook", "hookInstance", "context"])
def test_missing_required_field_gets_400_naming_it(client: TestClient, field: str) -> None:
    body = example(SIGN)
    del body[field]
    outcome = assert_outcome(call(client, body), 400, mentions=field)
    assert any(field in e for i in outcome["issue"] for e in i.get("expression", []))


@pytest.mark.parametrize("field", ["userId", "patientId", "draftOrders"])
def test_missing_context_field_gets_400_naming_it(client: TestClient, field: str) -> None:
    body = example(SIGN)
    del body["context"][field]
    assert_outcome(call(client, body), 400, mentions=f"context.{field}")


def test_order_select_without_selections_gets_400(client: TestClient) -> None:
    body = example(SELECT)
    del body["context"]["selections"]
    assert_outcome(call(client, body), 400, mentions="context.selections")


def test_selection_missing_from_draft_orders_gets_400(client: TestClient) -> None:
    body = example(SELECT)
    body["context"]["selections"] = ["ServiceRequest/not-in-the-bundle"]
    assert_outcome(call(client, body), 400, mentions="ServiceRequest/not-in-the-bundle")


def test_hook_not_served_by_this_service_gets_400(client: TestClient) -> None:
    body = example(SIGN)
    assert_outcome(call(client, body, service="crd-order-select"), 400, mentions="order-select")
    body["hook"] = "patient-view"
    assert_outcome(call(client, body), 400, mentions="patient-view")


def test_unknown_service_gets_404(client: TestClient) -> None:
    assert_outcome(call(client, example(SIGN), service="no-such-service"), 404)


def test_unknown_path_and_method_get_operation_outcomes(client: TestClient) -> None:
    assert_outcome(client.get("/nothing-here"), 404)
    assert_outcome(client.put("/cds-services/crd-order-sign", json={}), 405)


def test_fhir_authorization_without_fhir_server_gets_400(client: TestClient) -> None:
    body = example(SIGN)
    del body["fhirServer"]
    body["fhirAuthorization"] = {"access_token": "secret-token-value", "token_type": "Bearer",
                                 "expires_in": 300, "scope": "user/Coverage.read",
                                 "subject": "cds-service"}
    response = call(client, body)
    assert_outcome(response, 400, mentions="fhirServer")
    assert "secret-token-value" not in response.text


@pytest.mark.parametrize("draft_orders", [
    "a string", [], {"resourceType": "Patient"}, {"resourceType": "Bundle", "entry": {}},
    {"resourceType": "Bundle", "entry": ["x"]},
    {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1"}]},
    {"resourceType": "Bundle", "entry": [{"resource": {"id": "no-type"}}]},
])
def test_draft_orders_that_are_not_a_bundle_of_resources_get_400(
        client: TestClient, draft_orders: Any) -> None:
    body = example(SIGN)
    body["context"]["draftOrders"] = draft_orders
    assert_outcome(call(client, body), 400, mentions="draftOrders")


def test_bundle_without_type_and_entries_without_full_url_are_accepted(client: TestClient) -> None:
    body = example(SIGN)
    bundle = body["context"]["draftOrders"]
    del bundle["type"]
    for entry in bundle["entry"]:
        del entry["fullUrl"]
    response = call(client, body)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1


def test_unknown_fields_and_extensions_are_ignored(client: TestClient) -> None:
    body = example(SIGN)
    body["extension"] = {"com.example.timestamp": "2026-11-25T10:00:00Z"}
    body["unknownTopLevel"] = {"x": 1}
    body["context"]["somethingNew"] = True
    response = call(client, body)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1


def _with_odd_order(resource_type: str) -> dict[str, Any]:
    body = example("order-sign-unrelated-orders")
    body["context"]["draftOrders"]["entry"].append(
        {"resource": {"resourceType": resource_type, "id": "odd", "status": "draft",
                      "intent": "order",
                      "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                           "code": "47383"}]}}})
    return body


def _asserted_orders(answer: dict[str, Any]) -> list[str]:
    return [f"{a['resource']['resourceType']}/{a['resource']['id']}"
            for a in answer["systemActions"]]


@pytest.mark.parametrize("resource_type", ["NotAResource", "Basic", "Observation"])
def test_resources_that_are_not_crd_orders_get_no_guidance_and_no_assertion(
        client: TestClient, resource_type: str) -> None:
    response = call(client, _with_odd_order(resource_type))
    assert response.status_code == 200
    answer = response.json()
    assert answer["cards"] == []
    assert f"{resource_type}/odd" not in _asserted_orders(answer)
    assert len(answer["systemActions"]) == 3  # the three CRD orders of the example


@pytest.mark.parametrize("resource_type", ["DeviceRequest", "VisionPrescription"])
def test_a_code_in_an_element_the_order_type_does_not_use_is_not_matched(
        client: TestClient, resource_type: str) -> None:
    # DeviceRequest and VisionPrescription have no ``code``: the CPT there is not what they
    # order, so no policy matches, and the order gets the payer's unmatched assertion.
    response = call(client, _with_odd_order(resource_type))
    assert response.status_code == 200
    answer = response.json()
    assert answer["cards"] == []
    assert f"{resource_type}/odd" in _asserted_orders(answer)


def test_invalid_matched_service_request_gets_400_with_its_location(client: TestClient) -> None:
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["subject"] = "Patient/pat-cryo-1"  # a string where a Reference belongs
    order["authoredOn"] = "2026-13-45"
    outcome = assert_outcome(call(client, body), 400)
    expressions = {e for i in outcome["issue"] for e in i.get("expression", [])}
    assert "context.draftOrders.entry[0].resource.subject" in expressions
    assert "context.draftOrders.entry[0].resource.authoredOn" in expressions


def test_matched_service_request_with_bad_status_code_gets_400(client: TestClient) -> None:
    body = example(SIGN)
    body["context"]["draftOrders"]["entry"][0]["resource"]["status"] = "drafty"
    assert_outcome(call(client, body), 400, mentions="resource.status")


def test_unmatched_orders_are_not_validated(client: TestClient) -> None:
    body = example("order-sign-unrelated-orders")
    for entry in body["context"]["draftOrders"]["entry"]:
        entry["resource"]["status"] = 42  # invalid FHIR, but no policy needs these orders
    assert call(client, body).status_code == 200


def test_oversize_body_gets_413(make_client: Any) -> None:
    client = make_client(max_body_bytes=2_000)
    body = example(SIGN)
    assert_outcome(call(client, body), 413)
    # Declared length or not, the limit holds for streamed bodies too.
    def chunks() -> Any:
        yield json.dumps(body).encode()
    response = client.post("/cds-services/crd-order-sign", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert_outcome(response, 413)


def test_too_deeply_nested_json_gets_400(make_client: Any) -> None:
    client = make_client(max_json_depth=20)
    body = example(SIGN)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(30):
        node["x"] = {}
        node = node["x"]
    body["extension"] = {"com.example.deep": deep}
    assert_outcome(call(client, body), 400, mentions="nested")


@pytest.mark.parametrize("prefetch", [
    "not an object", [], {"coverage": "text"}, {"coverage": [1, 2]},
    {"coverage": {"resourceType": "Bundle", "entry": "x"}},
    {"coverage": {"resourceType": "Bundle", "entry": [None, 3, {"resource": "x"}]}},
    {"coverage": {"no": "resourceType"}},
])
def test_unexpected_prefetch_shapes_never_crash(client: TestClient, prefetch: Any) -> None:
    body = example(SIGN)
    body["prefetch"] = prefetch
    response = call(client, body)
    assert response.status_code in (200, 400, 412), response.text
    if response.status_code != 200:
        assert_outcome(response, response.status_code)


@pytest.mark.parametrize("mutate", [
    lambda o: o.update(code="47383"),
    lambda o: o.update(code={"coding": "x"}),
    lambda o: o.update(code={"coding": [None, {"system": 1, "code": []}]}),
    lambda o: o.update(reasonCode="C22.0"),
    lambda o: o.update(reasonReference=[{"reference": 5}, "Condition/x", None]),
    lambda o: o.update(insurance=[{"reference": "Coverage/unknown"}, 7]),
    lambda o: o.update(contained="nope"),
])
def test_odd_shapes_inside_orders_never_crash(client: TestClient, mutate: Any) -> None:
    body = example(SIGN)
    mutate(body["context"]["draftOrders"]["entry"][0]["resource"])
    response = call(client, body)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_outcome(response, 400)


def test_unmatched_orders_without_coverage_data_get_412_on_a_primary_hook(
        client: TestClient) -> None:
    # CRD 2.2 §hook-16: coverage information on every primary-hook call unless reporting an
    # error; without the Coverage it cannot be made, and the prefetch could not be completed.
    body = example("order-sign-unrelated-orders")
    del body["prefetch"]
    assert_outcome(call(client, body), 412, mentions="coverage")


def test_missing_coverage_prefetch_without_fhir_server_gets_412(client: TestClient) -> None:
    body = copy.deepcopy(example(SIGN))
    del body["prefetch"]["coverage"]
    assert_outcome(call(client, body), 412, mentions="coverage")


def test_coverage_prefetch_operation_outcome_without_fhir_server_gets_412(
        client: TestClient) -> None:
    body = example(SIGN)
    body["prefetch"]["coverage"] = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout"}]}
    assert_outcome(call(client, body), 412, mentions="coverage")
