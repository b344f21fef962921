"""POST /cds-services/{id}/feedback as an EHR sends it (CDS Hooks 2.0 §Feedback)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cds_service.store.stats import card_stats
from tests.api.conftest import Service
from tests.store.helpers import assertion_ids
from tests.support import (
    REFERENCE,
    assert_outcome,
    call,
    example,
    recorded_decision,
    require_shared,
)

SPEC = REFERENCE / "cds-hooks" / "extracted-from-spec"
URL = "/cds-services/crd-order-sign/feedback"


def spec_example(name: str) -> dict[str, Any]:
    require_shared(SPEC / f"spec2.0.1_feedback-{name}.json")
    body: dict[str, Any] = json.loads((SPEC / f"spec2.0.1_feedback-{name}.json").read_text())
    return body


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
                            "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:05:31Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("name", ["accepted", "overridden-no-reason", "overridden-with-reason"])
def test_the_specs_examples_are_stored(service: Service, name: str) -> None:
    response = service.http.post(URL, json=spec_example(name))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    # Cards from the spec's examples are not ours: kept, and flagged.
    assert response.json() == {"received": 1, "stored": 1, "duplicates": 0, "unknownCards": 1}


def test_feedback_on_our_card_is_linked_to_the_decision(service: Service) -> None:
    answer = call(service.http, example("order-sign-47371-commercial-hepatocellular-carcinoma"))
    assert answer.status_code == 200
    card = answer.json()["cards"][0]
    suggestion = card["suggestions"][0]["uuid"]
    sent = {"feedback": [
        item(card=card["uuid"], outcome="accepted", acceptedSuggestions=[{"id": suggestion}]),
        item(card=card["uuid"], overrideReason={"reason": {
            "system": card["overrideReasons"][0]["system"],
            "code": card["overrideReasons"][0]["code"]}}),
    ]}
    response = service.http.post(URL, json=sent)
    assert response.json() == {"received": 2, "stored": 2, "duplicates": 0, "unknownCards": 0}
    records = service.runtime.records
    assert records is not None
    decision = recorded_decision(records.db, assertion_ids(answer.json())[0])
    assert [(f["outcome"], f["cardKnown"]) for f in decision["feedback"]] == [
        ("accepted", True), ("overridden", True)]
    assert decision["feedback"][1]["overrideReason"]["reason"]["code"] == (
        card["overrideReasons"][0]["code"])


def test_an_override_reason_is_stored_as_the_card_showed_it(service: Service) -> None:
    """The sandbox sends a reason's code without its display. `records stats` once named it
    only when run with the server's CDS_PUBLIC_BASE_URL (the reason's system is built from it);
    the display the card showed is stored with the feedback instead."""
    answer = call(service.http, example("order-sign-47371-commercial-hepatocellular-carcinoma"))
    card = answer.json()["cards"][0]
    offered = card["overrideReasons"][0]
    sent = {"feedback": [item(card=card["uuid"], overrideReason={"reason": {
        "system": offered["system"], "code": offered["code"]}})]}
    assert service.http.post(URL, json=sent).status_code == 200
    records = service.runtime.records
    assert records is not None
    with records.db.read() as conn:  # as `records stats` reads it, with no labels of its own
        [policy] = card_stats(conn)["policies"]
    [reason] = policy["overrideReasons"]
    assert (reason["code"], reason["display"]) == (offered["code"], offered["display"])


def test_batches_and_repeats_are_stored_once(service: Service) -> None:
    batch = {"feedback": [item(card="c-1"), item(card="c-2"), item(card="c-1")]}
    first = service.http.post(URL, json=batch).json()
    again = service.http.post(URL, json=batch).json()
    assert (first["stored"], first["duplicates"]) == (2, 1)
    assert (again["stored"], again["duplicates"]) == (0, 3)


def test_the_sandboxs_reason_without_display_is_accepted(service: Service) -> None:
    body = {"feedback": [item(overrideReason={"reason": {"code": "d7ecf885",
                                                         "system": "https://example.com/r"}})]}
    assert service.http.post(URL, json=body).status_code == 200


def test_unknown_fields_are_ignored(service: Service) -> None:
    body = {"feedback": [item(extension={"com.example.x": 1}, unexpected=True)],
            "extension": {"com.example.y": 2}}
    assert service.http.post(URL, json=body).status_code == 200


def test_it_authenticates_for_the_feedback_url_or_the_service_url(service: Service) -> None:
    service.http.post(URL, json=spec_example("accepted"),
                      headers={"Authorization": "Bearer a.b.c"})
    assert service.auth.calls == [("Bearer a.b.c", [
        "https://cds.payer.example/cds-services/crd-order-sign/feedback",
        "https://cds.payer.example/cds-services/crd-order-sign"])]


def test_an_unauthenticated_caller_gets_401_and_nothing_is_stored(service: Service) -> None:
    service.auth.refuse = True
    response = service.http.post(URL, json=spec_example("accepted"))
    assert_outcome(response, 401)
    service.auth.refuse = False
    # Had it been stored, this would be a duplicate.
    assert service.http.post(URL, json=spec_example("accepted")).json()["stored"] == 1


def test_an_unknown_service_is_404(service: Service) -> None:
    assert_outcome(service.http.post("/cds-services/nope/feedback",
                                     json=spec_example("accepted")), 404)


@pytest.mark.parametrize("body, mentions", [
    ({"feedback": [item(outcome="accepted")]}, "acceptedSuggestions is required"),
    ({"feedback": [item(outcome="accepted", acceptedSuggestions=[])]}, "acceptedSuggestions"),
    ({"feedback": [item(outcome="dismissed")]}, "feedback[0].outcome"),
    ({"feedback": [item(outcomeTimestamp=None)]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [item(outcomeTimestamp="yesterday")]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [item(card=None)]}, "feedback[0].card"),
    ({"feedback": [item(card="")]}, "feedback[0].card"),
    ({"feedback": [item(overrideReason={})]}, "reason or a userComment"),
    ({"feedback": [item(overrideReason={"reason": {"system": "s"}})]}, "reason.code"),
    ({"feedback": []}, "feedback"),
    ({"feedback": {"card": "x"}}, "feedback"),
    ({"cards": []}, "feedback"),
])
def test_malformed_feedback_is_400_with_an_operation_outcome(
        service: Service, body: dict[str, Any], mentions: str) -> None:
    assert_outcome(service.http.post(URL, json=body), 400, mentions=mentions)


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'"feedback"'])
def test_a_body_that_is_not_a_json_object_is_400(service: Service, content: bytes) -> None:
    response = service.http.post(URL, content=content,
                                 headers={"Content-Type": "application/json"})
    assert_outcome(response, 400)


def test_one_bad_item_refuses_the_batch(service: Service) -> None:
    body = {"feedback": [item(card="fine"), item(outcome="nope")]}
    assert_outcome(service.http.post(URL, json=body), 400)
    assert service.http.post(URL, json={"feedback": [item(card="fine")]}).json()["stored"] == 1


def test_an_oversized_body_is_413(make_service: Callable[..., Service]) -> None:
    service = make_service(max_body_bytes=200)
    body = {"feedback": [item(card=f"card-{i}") for i in range(10)]}
    assert_outcome(service.http.post(URL, json=body), 413)


def test_without_records_the_endpoint_says_feedback_is_not_collected(
        make_service: Callable[..., Service]) -> None:
    service = make_service(record_decisions=False)
    assert_outcome(service.http.post(URL, json=spec_example("accepted")), 404,
                   mentions="CDS_RECORD_DECISIONS")
    assert service.auth.calls, "authentication still comes first"
