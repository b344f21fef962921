"""Nothing answered 200 is lost: a real ``cds-service serve`` killed with SIGKILL right after a
200 still has the decision record when it comes back, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx2
import pytest

from tests.ops.processes import CLI, development, free_port, serving
from tests.store.helpers import assertion_ids
from tests.support import example

pytestmark = pytest.mark.slow


def test_a_record_survives_sigkill_right_after_the_200(migrated_url: str, tmp_path: Path) -> None:
    env = development(tmp_path, CDS_DATABASE_URL=migrated_url)
    body = example("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    with serving(env, tmp_path, name="before") as served:
        proc = served.proc
        response = httpx2.post(f"{served.base}/cds-services/crd-order-sign", json=body,
                               timeout=30)
        os.kill(proc.pid, signal.SIGKILL)  # the moment the 200 is in: no shutdown, no flush
        assert response.status_code == 200, response.text
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    answer = response.json()
    [assertion_id] = assertion_ids(answer)

    # Back up on the same database: the record is there, and the service uses it.
    with serving(env, tmp_path, name="after") as served:
        stats = httpx2.get(f"{served.base}/records/stats", timeout=10).json()
        assert stats["policies"][0]["cards"]["shown"] == 1
    shown = subprocess.run([CLI, "records", "decision", assertion_id], cwd=tmp_path,
                           env=env, capture_output=True, check=False)
    assert shown.returncode == 0, shown.stderr.decode()
    record = json.loads(shown.stdout)
    assert record["hookInstance"] == body["hookInstance"]
    assert record["cards"][0]["uuid"] == answer["cards"][0]["uuid"]
    assert record["coverageAssertions"][0]["coverageAssertionId"] == assertion_id


def test_serve_refuses_a_postgres_database_behind_the_code(postgres_url: str,
                                                           tmp_path: Path) -> None:
    started = subprocess.run([CLI, "serve", "--port", str(free_port())], cwd=tmp_path,
                             env=development(tmp_path, CDS_DATABASE_URL=postgres_url),
                             capture_output=True, timeout=60,
                             check=False)
    assert started.returncode == 2
    assert b"cds-service db upgrade" in started.stderr
