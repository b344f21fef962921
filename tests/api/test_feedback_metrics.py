"""Feedback outcomes and override reasons counted for /metrics, with bounded labels."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.api.conftest import Service
from tests.support import call, example

URL = "/cds-services/crd-order-sign/feedback"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outcomes_and_override_reasons_are_counted(service: Service) -> None:
    card = call(service.http, example("order-sign-47371-commercial-hepatocellular-carcinoma")
                ).json()["cards"][0]
    ours = card["overrideReasons"][0]
    before = {
        "accepted": value("cds_feedback_total", service="crd-order-sign", outcome="accepted"),
        "overridden": value("cds_feedback_total", service="crd-order-sign", outcome="overridden"),
        ours["code"]: value("cds_override_reasons_total", reason=ours["code"]),
        "other": value("cds_override_reasons_total", reason="other"),
        "none": value("cds_override_reasons_total", reason="none"),
    }
    stamp = "2026-11-26T10:05:31Z"
    sent = {"feedback": [
        {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": stamp,
         "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": stamp,
         "overrideReason": {"reason": {"system": ours["system"], "code": ours["code"]}}},
        # A code we never offered is caller text: it must not become a label of its own.
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": stamp,
         "overrideReason": {"reason": {"code": "patient-name-here"}}},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": stamp,
         "overrideReason": {"userComment": "discussed with the member"}},
    ]}
    assert service.http.post(URL, json=sent).status_code == 200
    assert value("cds_feedback_total", service="crd-order-sign", outcome="accepted") == \
        before["accepted"] + 1
    assert value("cds_feedback_total", service="crd-order-sign", outcome="overridden") == \
        before["overridden"] + 3
    for reason in (ours["code"], "other", "none"):
        assert value("cds_override_reasons_total", reason=reason) == before[reason] + 1
    assert REGISTRY.get_sample_value("cds_override_reasons_total",
                                     {"reason": "patient-name-here"}) is None
    metrics_text = service.http.get("/metrics").text
    assert "patient-name-here" not in metrics_text
