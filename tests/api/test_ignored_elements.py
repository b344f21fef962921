"""Elements R4 does not define are ignored while reading an order, and the decision record says
which (paths only, never values), on each test database."""

from __future__ import annotations

from sqlalchemy import select

from cds_service.store.decisions import load_decision
from cds_service.store.tables import decision
from tests.api.conftest import Service
from tests.support import call, example


def test_ignored_elements_are_noted_on_the_record_by_path_only(service: Service) -> None:
    body = example("order-sign-47383-commercial-unknown-element-in-order")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["reasonCode"][0]["coding"][0]["secretLocal"] = "VALUE-NOT-KEPT"
    order["weird key\u00e9"] = 1
    response = call(service.http, body)
    assert response.status_code == 200, response.text
    records = service.runtime.records
    assert records is not None
    with records.db.read() as conn:
        decision_id = conn.execute(select(decision.c.id)).scalar_one()
        record = load_decision(conn, decision_id)
    assert record is not None
    [matched] = record["orders"]
    assert sorted(matched["ignoredElements"]) == sorted([
        "ServiceRequest.ehrLocalPriority",
        "ServiceRequest.code.coding[0].ehrLocalCode",
        "ServiceRequest.reasonCode[0].coding[0].secretLocal",
        "ServiceRequest.weird?key?",
    ])
    assert "VALUE-NOT-KEPT" not in str(record) and "scheduling desk" not in str(record)


def test_an_order_read_without_surprises_notes_nothing(service: Service) -> None:
    assert call(service.http, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                ).status_code == 200
    records = service.runtime.records
    assert records is not None
    with records.db.read() as conn:
        record = load_decision(conn, conn.execute(select(decision.c.id)).scalar_one())
    assert record is not None and "ignoredElements" not in record["orders"][0]


def test_unknown_elements_of_the_coverage_and_a_reason_condition_are_noted_too(
        service: Service) -> None:
    body = example("order-sign-47383-commercial-indication-by-prefetched-condition")
    for key in ("coverage", "conditions"):
        for entry in body["prefetch"][key]["entry"]:
            entry["resource"]["localNote"] = "VALUE-NOT-KEPT"
    response = call(service.http, body)
    assert response.status_code == 200, response.text
    records = service.runtime.records
    assert records is not None
    with records.db.read() as conn:
        record = load_decision(conn, conn.execute(select(decision.c.id)).scalar_one())
    assert record is not None
    assert set(record["orders"][0]["ignoredElements"]) == {"Coverage.localNote",
                                                           "Condition.localNote"}
    assert "VALUE-NOT-KEPT" not in str(record)
