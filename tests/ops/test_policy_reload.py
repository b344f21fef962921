"""``cds-service serve --workers 2``: SIGHUP to the service reloads the policy files in every worker
(the same workers, not replacements), and an edit that does not load leaves each worker with the
set it had, one log line each."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import pytest

from tests.ops.processes import Served, call, development, serving
from tests.ops.test_workers import only, wait_for_workers
from tests.support import write_bundled_policy

pytestmark = pytest.mark.slow

RELOADED = "policy files reloaded: 1 policies"
REFUSED = "policy files not reloaded, the set in use stays: "


def summaries(served: Served, workers: list[int]) -> list[str]:
    """The commercial example's card summary as each worker answers it (one process: as it
    answers)."""
    found = []
    for worker in workers or [None]:
        with only(served, worker) if worker else contextlib.nullcontext():
            response = call(served)
            assert response.status_code == 200, response.text
            found.append(response.json()["cards"][0]["summary"].split(":")[0])
    return found


def wait_for_lines(served: Served, start: str, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [e["message"] for e in served.log_lines() if e["message"].startswith(start)]
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    pytest.fail(f"no {count} log lines {start!r} within 30 s:\n{served.output()}")


@pytest.mark.parametrize("processes", [1, 2])
def test_sighup_reloads_every_worker_and_a_broken_edit_keeps_their_set(
        tmp_path: Path, processes: int) -> None:
    policies = tmp_path / "policies"
    write_bundled_policy(policies)
    env = development(tmp_path, CDS_POLICY_DIR=str(policies), CDS_RELOAD_ON_CHANGE="false")
    with serving(env, tmp_path, workers=processes) as served:
        workers = wait_for_workers(served, processes) if processes > 1 else []
        assert summaries(served, workers) == ["Not medically necessary for this Commercial "
                                              "member"] * processes

        write_bundled_policy(policies, retold=True)
        served.proc.send_signal(signal.SIGHUP)
        wait_for_lines(served, RELOADED, processes)
        assert summaries(served, workers) == ["Not covered for this Commercial member"] * processes

        path = write_bundled_policy(policies, card_topic="nonsense")
        served.proc.send_signal(signal.SIGHUP)
        refused = wait_for_lines(served, REFUSED, processes)
        assert refused == [f"{REFUSED}{path}: card_topic"] * processes
        assert summaries(served, workers) == ["Not covered for this Commercial member"] * processes
        assert served.workers() == workers  # reloaded in place, never replaced
        assert served.proc.poll() is None
    assert served.proc.returncode == 0
