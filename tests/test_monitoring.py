"""deploy/monitoring: the Grafana dashboard and the Prometheus alerting rules query only metrics
that GET /metrics exports (a renamed metric would leave a panel empty and an alert silent); the
rules pass `promtool check rules`, and `promtool test rules` shows the alerts fire."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
            "gauge": ("",), "summary": ("_count", "_sum", "")}
FROM_PROMETHEUS = {"up"}  # recorded by Prometheus itself for every scrape target
METRIC = re.compile(r"\b(cds_[a-z0-9_]+|up)\b(?!\s*\()")


def _strings(node: Any, key: str) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            elif k == key and isinstance(v, dict):
                yield from (s for s in v.values() if isinstance(s, str))
            else:
                yield from _strings(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [*_strings(dashboard["panels"], "expr"), *_strings(dashboard["templating"], "query")]


def alert_queries() -> list[str]:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def exported(text: str) -> set[str]:
    return {family.name + suffix for family in text_string_to_metric_families(text)
            for suffix in SUFFIXES.get(family.type, ("",))}


def test_every_metric_the_dashboard_and_alerts_query_is_exported(client: TestClient) -> None:
    names = exported(client.get("/metrics").text)
    queries = dashboard_queries() + alert_queries()
    queried = {m for q in queries for m in METRIC.findall(q)}
    assert len(queries) >= 15 and len(queried) >= 9
    assert queried - FROM_PROMETHEUS <= names, queried - FROM_PROMETHEUS - names


def test_the_dashboard_and_alerts_cover_what_operators_watch() -> None:
    dashboard = " ".join(dashboard_queries())
    for needed in ("histogram_quantile(0.99", "cds_http_request_duration_seconds_count",
                   "cds_jwt_rejections_total", "cds_cards_total", "cds_coverage_information_total",
                   "cds_feedback_total", "cds_override_reasons_total"):
        assert needed in dashboard
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["labels"]["severity"] in ("critical", "warning", "info")
            assert rule["annotations"]["summary"]


def test_a_misspelt_metric_would_be_caught(client: TestClient) -> None:
    names = exported(client.get("/metrics").text)
    assert "cds_cards_total" in names and "cds_card_total" not in names
    assert METRIC.findall('sum(rate(cds_card_total{x="y"}[5m]))') == ["cds_card_total"]


# --- promtool (Debian's prometheus package; .ci/run installs it) -------------------------------

def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        reason = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return subprocess.run([tool, *args], cwd=MONITORING, capture_output=True, text=True,
                          timeout=120)


def test_promtool_accepts_the_alerting_rules() -> None:
    result = promtool("check", "rules", "prometheus-rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_service_down_alerts_fire_whatever_the_scrape_job_is_called() -> None:
    """CdsServiceDown once matched job="cds-service" only: pods scraped through the Deployment's
    prometheus.io annotations (job "kubernetes-pods") never raised it."""
    cases = yaml.safe_load((MONITORING / "prometheus-rules.test.yaml").read_text())["tests"]
    jobs = {re.search(r'job="([^"]+)"', s["series"])[1]  # type: ignore[index]
            for case in cases for s in case["input_series"]}
    assert {"cds-service", "kubernetes-pods"} <= jobs
    tested = {t["alertname"] for case in cases for t in case["alert_rule_test"]
              if t["exp_alerts"]}
    assert {"CdsServiceDown", "CdsServiceAbsent"} <= tested
    result = promtool("test", "rules", "prometheus-rules.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
