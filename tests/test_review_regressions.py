"""Inputs found by review that once ended in a 500 or leaked a value into the log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import assert_outcome, call, example

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"


def order(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["context"]["draftOrders"]["entry"][0]["resource"])


def coverage(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["prefetch"]["coverage"]["entry"][0]["resource"])


def set_order(body: dict[str, Any], **values: Any) -> None:
    body["context"]["draftOrders"]["entry"][0]["resource"].update(values)


def set_coverage(body: dict[str, Any], **values: Any) -> None:
    body["prefetch"]["coverage"]["entry"][0]["resource"].update(values)


@pytest.mark.parametrize("mutate", [
    lambda b: set_order(b, code={"coding": 1}),
    lambda b: set_order(b, code={"coding": [{"system": "x", "code": "y"}], "extension": 5}),
    lambda b: set_coverage(b, **{"class": 1}),
    lambda b: set_coverage(b, type={"coding": 1}),
    lambda b: set_coverage(b, payor=3),
    lambda b: b["prefetch"]["coverage"].update(entry=1),
    lambda b: b["prefetch"]["coverage"].update(link=1),
    lambda b: b["prefetch"].update(patient={"resourceType": "Bundle", "entry": 1}),
    lambda b: set_order(b, reasonReference=[{"reference": "#c"}], contained=1),
    lambda b: set_order(b, insurance=True, reasonCode=7, reasonReference="x"),
], ids=range(10))
def test_wrong_shapes_in_fhir_arrays_never_give_500(
        client: TestClient, mutate: Callable[[dict[str, Any]], None]) -> None:
    body = example(SIGN)
    mutate(body)
    response = call(client, body)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_outcome(response, 400)


@pytest.mark.parametrize("mutate", [
    lambda b: b.update(hookInstance="a\u0000b"),
    lambda b: set_order(b, note=[{"text": "x\u0000"}]),
    lambda b: b.update(fhirServer="https://ehr.example/" + "f" * 3000),
    lambda b: set_coverage(b, id="c" * 300),
    lambda b: set_coverage(b, id="not a FHIR id"),
], ids=["nul-hook-instance", "nul-in-order", "long-fhir-server", "long-coverage-id",
        "bad-coverage-id"])
def test_values_a_database_cannot_store_get_400(
        client: TestClient, mutate: Callable[[dict[str, Any]], None]) -> None:
    body = example(SIGN)
    mutate(body)
    assert_outcome(call(client, body), 400)


def test_coverage_of_another_patient_is_not_the_members(client: TestClient) -> None:
    body = example(SIGN)
    set_coverage(body, beneficiary={"reference": "Patient/someone-else"})
    outcome = assert_outcome(call(client, body), 400)
    assert "No active Coverage for the member" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("period", "in_force"), [
    ({"start": "2020-01-01", "end": "2021-12-31"}, False),
    ({"start": "2099-01-01"}, False),
    ({"end": "2020"}, False),
    ({"start": "2020-01-01", "end": "2099-12-31T23:59:59-05:00"}, True),
    ({"start": "2020"}, True),
])
def test_coverage_period_must_include_today(client: TestClient, period: dict[str, str],
                                            in_force: bool) -> None:
    body = example(SIGN)
    set_coverage(body, period=period)
    response = call(client, body)
    if in_force:
        assert response.json()["cards"][0]["indicator"] == "warning"
    else:
        # Not in force today: no active Coverage, a 400 (Da Vinci CRD 2.2 hooks.md).
        assert_outcome(response, 400)


def test_refusals_log_paths_not_the_values_sent(client: TestClient,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = example("order-select-47383-medicare-advantage-hepatocellular-carcinoma")
    body["context"]["selections"] = ["ServiceRequest/Maren-Brightwater-1954-06-21"]
    response = call(client, body)
    assert "Maren-Brightwater" in response.text  # the caller is told what was wrong
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request refused" in logged and "Maren-Brightwater" not in logged


@pytest.fixture
def records_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(record_decisions=True)


@pytest.mark.parametrize("timestamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_feedback_timestamp_out_of_range_gets_400(records_client: TestClient,
                                                  timestamp: str) -> None:
    body = {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": timestamp}]}
    assert_outcome(records_client.post("/cds-services/crd-order-sign/feedback", json=body), 400)


def test_stats_since_out_of_range_gets_400(records_client: TestClient) -> None:
    response = records_client.get("/records/stats",
                                  params={"since": "9999-12-31T23:59:59-01:00"})
    assert_outcome(response, 400)
