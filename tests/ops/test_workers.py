"""``cds-service serve --workers 2``: both workers answer hook calls, a token used on one worker is
refused on the other (the replay store is the shared database, not a worker's memory), and
GET /metrics counts every worker's calls.

Which worker accepts a connection is the kernel's choice. To know that a given worker answered,
the other one is paused (SIGSTOP) for the few calls that must reach this one, then resumed; the
pause stays far below uvicorn's 5 s worker health check, so no worker is replaced meanwhile.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.auth.ehr import EHR
from tests.ops.processes import Served, call, metric, production, serving

pytestmark = pytest.mark.slow

CONCURRENT_CALLS = 24


@contextmanager
def only(served: Served, worker: int) -> Iterator[None]:
    """Every other worker paused: new connections can only be accepted by ``worker``."""
    paused = [pid for pid in served.workers() if pid != worker]
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)


def wait_for_workers(served: Served, count: int) -> list[int]:
    """The worker pids, once ``count`` workers have finished their start-up (each logs it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        started = [e for e in served.log_lines()
                   if e["message"] == "Application startup complete."]
        workers = served.workers()
        if len(started) >= count and len(workers) == count:
            return workers
        time.sleep(0.05)
    pytest.fail(f"{count} workers not started within 30 s:\n{served.output()}")


def test_two_workers_share_calls_replay_protection_and_metrics(tmp_path: Path) -> None:
    ehr = EHR()
    with serving(production(tmp_path, ehr), tmp_path, workers=2) as served:
        first, second = workers = wait_for_workers(served, 2)

        # Many calls at once, each on its own connection: all answered.
        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(lambda _: call(served, ehr.token()).status_code,
                                     range(CONCURRENT_CALLS)))
        assert statuses == [200] * CONCURRENT_CALLS

        # Each worker answers on its own, and refuses the token the other one accepted.
        token_a, token_b = ehr.token(), ehr.token()
        with only(served, first):
            assert call(served, token_a).status_code == 200
            assert call(served, ehr.token()).status_code == 200
        with only(served, second):
            assert call(served, token_a).status_code == 401  # replayed on the other worker
            assert call(served, token_b).status_code == 200
            assert call(served, ehr.token()).status_code == 200
        with only(served, first):
            assert call(served, token_b).status_code == 401
        answered = CONCURRENT_CALLS + 4

        # Neither worker was replaced (a missed health check would have restarted it).
        assert served.workers() == workers

        # Whichever worker answers /metrics reports the calls of both.
        text = httpx2.get(f"{served.base}/metrics", timeout=10).text
        assert metric(text, "cds_hook_calls_total", service="crd-order-sign",
                      hook="order-sign") == answered
        assert metric(text, "cds_jwt_rejections_total", reason="replay") == 2
        assert metric(text, "cds_http_request_duration_seconds_count", endpoint="hook",
                      service="crd-order-sign", status="200") == answered
        metrics_dirs = list(tmp_path.glob("cds-metrics-*"))
        assert len(metrics_dirs) == 1  # prometheus_client multiprocess mode, set up by serve
    assert served.proc.returncode == 0
    assert not metrics_dirs[0].exists()  # removed when the service stops
