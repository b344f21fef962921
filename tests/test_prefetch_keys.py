"""Prefetched data is read by resource type wherever the client put it (CRD 2.2 §found-30:
clients SHALL NOT depend on key names, so we do not either). The Da Vinci CRD request generator
prefetches the Coverage as ``coverageBundle``; without this it got 412 against an open FHIR
server."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import call, example

REQUEST = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"


def renamed(key: str) -> dict[str, Any]:
    body = example(REQUEST)
    body["prefetch"][key] = body["prefetch"].pop("coverage")
    body.pop("fhirServer", None)  # nothing to query: the prefetch is all there is
    body.pop("fhirAuthorization", None)
    return body


def cited_coverage(answer: dict[str, Any]) -> list[str]:
    return [sub["valueReference"]["reference"]
            for action in answer["systemActions"]
            for ext in action["resource"]["extension"]
            for sub in ext["extension"] if sub["url"] == "coverage"]


def test_coverage_prefetched_under_the_request_generators_key_is_used(
        client: TestClient) -> None:
    expected = example(REQUEST)["prefetch"]["coverage"]["entry"][0]["resource"]["id"]
    response = call(client, renamed("coverageBundle"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert cited_coverage(answer) == [f"Coverage/{expected}"]
    # The member's plan was read from it: the card states the determination for their plan.
    assert "Medicare Advantage member" in answer["cards"][0]["summary"]


def test_a_key_holding_something_else_is_no_coverage_and_no_error(client: TestClient) -> None:
    body = renamed("coverageBundle")
    body["prefetch"]["coverageBundle"]["entry"] = []
    body["prefetch"]["somethingElse"] = {"resourceType": "Basic", "id": "x"}
    response = call(client, body)
    # No Coverage anywhere and nothing to query: the documented 412 naming our key.
    assert response.status_code == 412, response.text
    assert "prefetch 'coverage'" in response.text
