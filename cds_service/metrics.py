"""Prometheus metrics. With several worker processes, prometheus_client's multiprocess mode is
used (``PROMETHEUS_MULTIPROC_DIR``, set up by ``cds-service serve``)."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from cds_service.hooks.registry import SERVICES

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Histogram(
    "cds_http_request_duration_seconds", "HTTP requests by endpoint, service, hook and status",
    ["endpoint", "service", "status"], buckets=LATENCY_BUCKETS)
HOOK_CALLS = Counter("cds_hook_calls_total", "Hook calls answered 200", ["service", "hook"])
CARDS = Counter("cds_cards_total", "Cards returned", ["policy", "determination"])
ACTIONS = Counter("cds_coverage_information_total", "Coverage-information actions returned",
                  ["policy", "covered"])
FHIR_FETCH = Histogram("cds_fhir_fetch_duration_seconds", "Queries to the EHR's FHIR server",
                       ["outcome"], buckets=LATENCY_BUCKETS)
JWT_REJECTED = Counter("cds_jwt_rejections_total", "Rejected client tokens", ["reason"])
FEEDBACK = Counter("cds_feedback_total", "Feedback items received (repeats included)",
                   ["service", "outcome"])
OVERRIDE_REASONS = Counter(
    "cds_override_reasons_total",
    "Overridden cards by override reason: one of ours, 'other' (a code we never offered) or "
    "'none' (no reason given)", ["reason"])
RECORDS_NOT_WRITTEN = Counter(
    "cds_records_not_written_total", "Database writes that failed or did not commit in time",
    ["record", "reason"])
HTTP_LIMITS = Counter("cds_http_limit_hits_total",
                      "Requests and connections stopped by an HTTP limit", ["limit"])
"""``limit``: header-size, header-count, header-timeout, body-timeout, connections (refused),
idle-closed (closed to make room for a new connection), requests."""
POLICY_RELOADS = Counter("cds_policy_reloads_total",
                         "Reloads of the policy files and payer file while serving, by outcome",
                         ["outcome"])
"""``outcome``: loaded (in use from then on), refused (the set did not load; the one in use
stays). Both exported from the start, so that an alert on refusals sees the first one."""
for _outcome in ("loaded", "refused"):
    POLICY_RELOADS.labels(outcome=_outcome)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def exposition() -> tuple[bytes, str]:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def endpoint_of(path: str) -> tuple[str, str]:
    """A bounded label set: the endpoint kind and the service id (never free text)."""
    parts = path.strip("/").split("/")
    if parts[0] == "cds-services":
        if len(parts) == 1:
            return "discovery", ""
        kind = "feedback" if len(parts) == 3 and parts[2] == "feedback" else "hook"
        return kind, parts[1] if parts[1] in SERVICES else "unknown"
    if parts[0] in ("policies", "CodeSystem", "healthz", "readyz", "metrics", "records"):
        return parts[0], ""
    return "other", ""


class MetricsMiddleware:
    """Pure ASGI (no per-request Starlette objects): latency and status of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            endpoint, service = endpoint_of(scope["path"])
            REQUESTS.labels(endpoint, service, str(status)).observe(time.perf_counter() - start)
