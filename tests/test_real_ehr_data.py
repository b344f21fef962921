"""What EHRs actually send (issue 9): local elements, empty arrays, empty tokens, contained
resources of any shape. Lenient where the decision does not depend on it, a clear 400 where it
does, never a 500, and nothing invalid in what we send back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import assert_outcome, call, example

SIGN = "order-sign-47383-commercial-hepatocellular-carcinoma"
ORDER = "context.draftOrders.entry[0].resource"
LIBRARY_PHRASES = ("Input should", "Extra inputs", "Value error", "Field required",
                   "should have at least", "not permitted", "Invalid JSON", "spec regex",
                   "One of field value")


def order_of(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["context"]["draftOrders"]["entry"][0]["resource"])


def echoed(answer: dict[str, Any]) -> dict[str, Any]:
    [action] = answer["systemActions"]
    return dict(action["resource"])


def test_unknown_elements_in_a_matched_order_are_ignored_not_refused(client: TestClient) -> None:
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["epicLocalFlag"] = {"nested": [1, 2]}
    order["code"]["coding"][0]["localCode"] = "IR-7"
    order["reasonCode"][0]["localRank"] = 1
    response = call(client, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "evidence-hepatocellular-carcinoma" in json.dumps(answer["cards"][0]["links"])
    # The coverage-information update changes nothing but our extension (CRD §resp-37): the
    # EHR's local elements go back to it as it sent them.
    resource = echoed(answer)
    assert resource["epicLocalFlag"] == {"nested": [1, 2]}
    assert resource["code"]["coding"][0]["localCode"] == "IR-7"
    assert resource["reasonCode"][0]["localRank"] == 1


def test_a_resource_unusable_for_the_decision_still_gets_a_clear_400(client: TestClient) -> None:
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["localFlag"] = True  # ignored...
    order["status"] = 7  # ...but this is read
    outcome = assert_outcome(call(client, body), 400)
    assert outcome["issue"] == [{"severity": "error", "code": "structure",
                                 "diagnostics": "ServiceRequest.status: must be a string",
                                 "expression": [f"{ORDER}.status"]}]


@pytest.mark.parametrize(("mutate", "path", "words"), [
    (lambda o: o.update(subject="Patient/pat-cryo-1"), "subject", "must be an object"),
    (lambda o: o.update(authoredOn="2026-13-45"), "authoredOn", "must be a FHIR dateTime"),
    (lambda o: o.update(intent=None), "intent", "is required"),
    (lambda o: o.update(id="has space"), "id", "does not have the format"),
    (lambda o: o["reasonCode"][0]["coding"][0].update(code=5), "reasonCode[0].coding[0].code",
     "must be a string"),
    (lambda o: o.update(quantityQuantity={"value": "many"}), "quantityQuantity.value",
     "must be a number"),
])
def test_validation_messages_name_the_json_path_in_plain_words(
        client: TestClient, mutate: Any, path: str, words: str) -> None:
    body = example(SIGN)
    mutate(body["context"]["draftOrders"]["entry"][0]["resource"])
    outcome = assert_outcome(call(client, body), 400)
    issue = next(i for i in outcome["issue"] if i["expression"] == [f"{ORDER}.{path}"])
    assert issue["diagnostics"].startswith(f"ServiceRequest.{path}: {words}")
    text = json.dumps(outcome)
    assert not [p for p in LIBRARY_PHRASES if p in text], text


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda b: b.pop("hookInstance"), "hookInstance: is required"),
    (lambda b: b.update(hookInstance=""), "hookInstance: must not be empty"),
    (lambda b: b["context"].update(userId=7), "context.userId: must be a string"),
    (lambda b: b.update(fhirServer="ftp://x"), "fhirServer: must be an absolute http(s) URL"),
    (lambda b: b.update(fhirAuthorization={"access_token": "t"}, fhirServer=None),
     "fhirAuthorization"),
    (lambda b: b.update(prefetch=[]), "prefetch: must be an object"),
])
def test_request_validation_messages_are_ours_not_the_librarys(
        client: TestClient, mutate: Any, where: str) -> None:
    body = example(SIGN)
    mutate(body)
    outcome = assert_outcome(call(client, body), 400, mentions=where)
    text = json.dumps(outcome)
    assert not [p for p in LIBRARY_PHRASES if p in text], text


def test_empty_reason_code_is_not_echoed_and_reads_as_no_reason(client: TestClient) -> None:
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["reasonCode"] = []
    order["note"] = [{}]
    order["identifier"] = None
    answer = call(client, body).json()
    resource = echoed(answer)
    assert {"reasonCode", "note", "identifier"}.isdisjoint(resource)
    assert "the order names no reason" in answer["cards"][0]["detail"]


def test_empty_access_token_is_treated_as_absent_so_missing_prefetch_is_412(
        client: TestClient) -> None:
    body = example(SIGN)
    body["fhirServer"] = "https://ehr.example.org/fhir"
    body["fhirAuthorization"] = {"access_token": "", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "user/*.read", "subject": "cds-service"}
    del body["prefetch"]["coverage"]
    outcome = assert_outcome(call(client, body), 412)
    assert outcome["issue"][0]["expression"] == ["prefetch.coverage"]
    assert "'coverage'" in outcome["issue"][0]["diagnostics"]


RESOURCE_TYPES = ["Nope", "", None, 0, 1.5, True, [], {}, ["Condition"], {"a": 1},
                  "condition", "Patient ", " Patient", "Pati ent", "CodeableConcept", "Element",
                  "Resource", "DomainResource", "Bundle\u00e9", "R4.Condition", "x" * 5000]


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES, ids=repr)
def test_contained_resource_of_unknown_or_non_string_type_gets_400_never_500(
        make_client: Any, resource_type: Any) -> None:
    client = make_client()
    as_ehr = TestClient(client.app, raise_server_exceptions=False)
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["contained"] = [{"resourceType": resource_type, "id": "c1"}]
    response = call(as_ehr, body)
    outcome = assert_outcome(response, 400)
    text = json.dumps(outcome)
    assert f"{ORDER}.contained[0]" in text
    assert "Traceback" not in text and "KeyError" not in text


@pytest.mark.parametrize("contained", [
    {"id": "c1"},  # no resourceType at all
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": 9}}]},
    {"resourceType": "Condition", "contained": [{"resourceType": "Nope"}]},
    "Condition/c1", 7, None, [],
])
def test_contained_resources_of_any_shape_never_give_500(
        make_client: Any, contained: Any) -> None:
    as_ehr = TestClient(make_client().app, raise_server_exceptions=False)
    body = example(SIGN)
    body["context"]["draftOrders"]["entry"][0]["resource"]["contained"] = [contained]
    response = call(as_ehr, body)
    assert response.status_code in (200, 400), response.text
    assert response.json().get("resourceType", "OperationOutcome") in ("OperationOutcome",)\
        or response.status_code == 200
