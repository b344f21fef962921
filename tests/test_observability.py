"""Metrics and structured logs: what operators see, and what they must never see."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from cds_service.logs import JsonFormatter, hook_instance
from tests.support import call, example


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_hook_calls_cards_and_actions(client: TestClient) -> None:
    before = client.get("/metrics").text
    call(client, example("order-sign-two-cryoablation-orders"))
    call(client, example("order-sign-47383-unknown-plan"))
    after = client.get("/metrics").text
    assert after.startswith("# HELP") or "# HELP" in after
    policy = "cryosurgical-ablation-liver-tumors"
    for name, labels, delta in [
        ("cds_hook_calls_total", {"service": "crd-order-sign"}, 2),
        ("cds_cards_total", {"policy": policy, "determination": "not covered"}, 2),
        ("cds_cards_total", {"policy": policy, "determination": "plan unknown"}, 1),
        ("cds_coverage_information_total", {"policy": policy, "covered": "not-covered"}, 2),
        ("cds_http_request_duration_seconds_count",
         {"endpoint": "hook", "service": "crd-order-sign", "status": "200"}, 2),
    ]:
        assert metric(after, name, **labels) - metric(before, name, **labels) == delta, name


def test_request_latency_labels_stay_bounded(client: TestClient) -> None:
    client.post("/cds-services/some-random-id-123", json={})
    text = client.get("/metrics").text
    assert "some-random-id-123" not in text
    assert metric(text, "cds_http_request_duration_seconds_count",
                  endpoint="hook", service="unknown", status="404") >= 1


def test_json_log_lines_carry_only_allowed_fields() -> None:
    record = logging.LogRecord("cds_service", logging.INFO, __file__, 1, "hook answered", None,
                               None)
    record.__dict__.update({"iss": "https://ehr.example", "cards": 1,
                            "patient_name": "Jane Doe", "access_token": "secret"})
    token = hook_instance.set("8b9a7f3e-2f0c-4a53-9d3e-5c1f0a6b2e11")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        hook_instance.reset(token)
    assert line["hookInstance"] == "8b9a7f3e-2f0c-4a53-9d3e-5c1f0a6b2e11"
    assert line["iss"] == "https://ehr.example"
    assert "patient_name" not in line and "access_token" not in line


def test_hook_logs_contain_no_patient_data(client: TestClient,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = example("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    call(client, body)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    patient = body["prefetch"]["patient"]
    for secret in (patient["id"], patient["name"][0]["family"], patient["birthDate"], "C22.0"):
        assert secret not in logged
    assert body["hookInstance"] in logged
