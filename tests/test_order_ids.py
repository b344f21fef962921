"""An order without a usable id (missing, not a string, not a FHIR id) gets no coverage-information
action: that action is an ``update`` naming the order by its id (CDS Hooks 2.0 §Action; CRD
updates the draft with the same resourceType and id), which the EHR could not apply. The call
is answered as usual otherwise (the card still warns), and the record notes ``<order>.id``
(issue 21: 51 of 40,000 mutated bodies got an update on a resource without an id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.store.tables import decision_order
from tests.support import call, example

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"
PATH = "context.draftOrders.entry[0].resource.id"


def test_a_matched_order_without_an_id_gets_its_card_but_no_update_action(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(record_decisions=True)
    body = example(SIGN)
    del body["context"]["draftOrders"]["entry"][0]["resource"]["id"]
    response = call(client, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["cards"]) == 1
    assert answer["systemActions"] == []
    records = client.app.state.runtime.records  # type: ignore[attr-defined]
    with records.db.read() as conn:
        [ignored] = conn.execute(select(decision_order.c.ignored_elements)).scalars()
    assert PATH in ignored


@pytest.mark.parametrize("change", [
    lambda order: order.pop("id"),
    lambda order: order.update(id=47383),
    lambda order: order.update(id=""),
    lambda order: order.update(id="not a FHIR id!"),
], ids=["missing", "a number", "empty", "not a FHIR id"])
def test_an_order_no_policy_matches_without_a_usable_id_gets_no_update_action(
        client: TestClient, change: Callable[[dict[str, Any]], Any]) -> None:
    """(A matched order's id is checked as FHIR when it is read: a bad one is a 400 there.)"""
    body = example(SIGN)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"]["coding"][0]["code"] = "99213"  # an office visit: no policy names it
    control = call(client, body).json()
    assert [a["type"] for a in control["systemActions"]] == ["update"]
    change(order)
    response = call(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["systemActions"] == []


def test_an_order_with_an_id_still_gets_its_update_action(client: TestClient) -> None:
    answer = call(client, example(SIGN)).json()
    [action] = answer["systemActions"]
    assert action["type"] == "update" and action["resource"]["id"] == "sr-47383"
