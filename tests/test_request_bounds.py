"""One hook request may carry at most CDS_MAX_CONTAINED_RESOURCES contained resources and
CDS_MAX_REFERENCES references (all resources together); within them a call is answered, beyond
them it gets 400 too-costly, before any evaluation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import assert_outcome, call, example

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"


def crowded(contained: int, references: int) -> dict[str, Any]:
    """The example order with ``contained`` Conditions and ``references`` ``#id`` reasons that
    match none of them, plus one that matches the hepatocellular carcinoma Condition."""
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    del order["reasonCode"]
    order["contained"] = [
        {"resourceType": "Condition", "id": f"cond-{i}",
         "subject": {"reference": "Patient/pat-cryo-1"},
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                              "code": "C22.0" if i == contained - 1 else "Z00.00"}]}}
        for i in range(contained)]
    order["reasonReference"] = [{"reference": f"#missing-{i}"} for i in range(references - 1)]
    order["reasonReference"].append({"reference": f"#cond-{contained - 1}"})
    return body


def references_in(body: Any) -> int:
    if isinstance(body, dict):
        own = 1 if isinstance(body.get("reference"), str) else 0
        return own + sum(references_in(v) for v in body.values())
    if isinstance(body, list):
        return sum(references_in(v) for v in body)
    return 0


def test_thousands_of_contained_resources_and_references_are_answered(
        make_client: Any) -> None:
    client: TestClient = make_client(max_contained_resources=3000, max_references=20_000)
    body = crowded(3000, 15_000)
    response = call(client, body)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert "Hepatocellular carcinoma" in card["detail"]  # the indication found by #id


def test_the_default_bounds_accept_requests_at_their_limits(client: TestClient) -> None:
    others = references_in(crowded(1000, 1)) - 1  # subjects, coverage, payor, ...
    body = crowded(1000, 10_000 - others)
    assert references_in(body) == 10_000
    assert call(client, body).status_code == 200


def test_more_contained_resources_than_allowed_get_400_too_costly(make_client: Any) -> None:
    client = make_client(max_contained_resources=100)
    outcome = assert_outcome(call(client, crowded(101, 5)), 400, mentions="101 contained")
    assert {i["code"] for i in outcome["issue"]} == {"too-costly"}


def test_more_references_than_allowed_get_400_too_costly(make_client: Any) -> None:
    client = make_client(max_references=1000)
    body = crowded(5, 1000)
    outcome = assert_outcome(call(client, body), 400,
                             mentions=f"{references_in(body)} references")
    assert {i["code"] for i in outcome["issue"]} == {"too-costly"}
