"""Nothing answered 200 is lost: a real ``cds-service serve`` killed with SIGKILL right after a
200 still has the decision record when it comes back, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.store.helpers import assertion_ids
from tests.support import example

BIN = Path(sys.executable).parent
CLI = str(BIN / "cds-service")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update({"CDS_ENVIRONMENT": "development", "CDS_AUTH_ENABLED": "false",
                "CDS_DATABASE_URL": database_url, "CDS_LOG_JSON": "false"})
    return env


@contextmanager
def serving(database_url: str, cwd: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes],
                                                                       str]]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=cwd, env=environment(database_url), stdout=out, stderr=out,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx2.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready within 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_record_survives_sigkill_right_after_the_200(migrated_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    body = example("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    with serving(migrated_url, tmp_path, log) as (proc, base):
        response = httpx2.post(f"{base}/cds-services/crd-order-sign", json=body, timeout=30)
        os.kill(proc.pid, signal.SIGKILL)  # the moment the 200 is in: no shutdown, no flush
        assert response.status_code == 200, response.text
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    answer = response.json()
    [assertion_id] = assertion_ids(answer)

    # Back up on the same database: the record is there, and the service uses it.
    with serving(migrated_url, tmp_path, log) as (_, base):
        stats = httpx2.get(f"{base}/records/stats", timeout=10).json()
        assert stats["policies"][0]["cards"]["shown"] == 1
    shown = subprocess.run([CLI, "records", "decision", assertion_id], cwd=tmp_path,
                           env=environment(migrated_url), capture_output=True, check=False)
    assert shown.returncode == 0, shown.stderr.decode()
    record = json.loads(shown.stdout)
    assert record["hookInstance"] == body["hookInstance"]
    assert record["cards"][0]["uuid"] == answer["cards"][0]["uuid"]
    assert record["coverageAssertions"][0]["coverageAssertionId"] == assertion_id


def test_serve_refuses_a_postgres_database_behind_the_code(postgres_url: str,
                                                           tmp_path: Path) -> None:
    started = subprocess.run([CLI, "serve", "--port", str(free_port())], cwd=tmp_path,
                             env=environment(postgres_url), capture_output=True, timeout=60,
                             check=False)
    assert started.returncode == 2
    assert b"cds-service db upgrade" in started.stderr
