"""Real ``cds-service serve`` processes for the operations tests: started on a free loopback port
in a session of their own, output captured to files, and always stopped (SIGTERM, then SIGKILL of
the whole process group if they do not go within the time limit).

The EHR side comes from tests/auth/ehr.py: the same generated keys, tokens whose ``aud`` is built
from ``BASE`` (the public URL every served process is given), and the same trust file format.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.auth.ehr import BASE, EHR, example, write_trust

BIN = Path(sys.executable).parent
CLI = str(BIN / "cds-service")
SIGN = "/cds-services/crd-order-sign"
READY_SECONDS = 30.0
STOP_SECONDS = 25.0  # above the service's own 20 s graceful-shutdown limit
CALL_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HTTP_IMPLEMENTATION: str | None = None
"""``CDS_HTTP_IMPLEMENTATION`` for the processes started (conftest.py's ``each_http_stack``
runs a module's tests on each); None: the service's default."""


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any ``CDS_`` setting or metrics directory, plus
    ``settings`` (``CDS_...`` names). ``TMPDIR`` points into ``tmp_path``, so whatever the service
    puts in a temporary directory (the workers' metrics files) is found and removed with it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CDS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"TMPDIR": str(tmp_path), "CDS_PUBLIC_BASE_URL": BASE})
    if HTTP_IMPLEMENTATION is not None:
        env["CDS_HTTP_IMPLEMENTATION"] = HTTP_IMPLEMENTATION
    env.update(settings)
    return env


def production(tmp_path: Path, ehr: EHR, database_url: str | None = None,
               **settings: str) -> dict[str, str]:
    """Production rules, authentication on (trusting ``ehr``), records on."""
    trust = write_trust(tmp_path / "trusted-clients.json", ehr.entry())
    return environment(tmp_path, **{
        "CDS_ENVIRONMENT": "production", "CDS_TRUSTED_CLIENTS": str(trust),
        "CDS_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'records.db'}", **settings})


def development(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Development, authentication off, records on (SQLite unless ``settings`` say otherwise)."""
    return environment(tmp_path, **{
        "CDS_ENVIRONMENT": "development", "CDS_AUTH_ENABLED": "false",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'records.db'}", **settings})


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The stderr log, one JSON object per line (fails on any other line)."""
        lines = [line for line in self.stderr.read_text().splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]
        assert all(isinstance(e, dict) for e in entries)
        return entries

    def workers(self) -> list[int]:
        """Pids of the uvicorn worker processes (spawned children; not the resource tracker)."""
        return sorted(pid for pid in _children(self.proc.pid)
                      if b"spawn_main" in _read(f"/proc/{pid}/cmdline"))


def start(env: dict[str, str], cwd: Path, *, workers: int = 1, name: str = "server") -> Served:
    port = free_port()
    stdout, stderr = cwd / f"{name}.out", cwd / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)],
                                cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)
    return Served(proc, port, stdout, stderr)


def wait_ready(served: Served, timeout: float = READY_SECONDS, *, base: str | None = None,
               verify: ssl.SSLContext | bool = True) -> None:
    """Until ``/readyz`` answers 200 (at ``base``, e.g. the HTTPS URL, with ``verify``)."""
    deadline = time.monotonic() + timeout
    while True:
        if served.proc.poll() is not None:
            pytest.fail(f"server exited with {served.proc.returncode}:\n{served.output()}")
        try:
            if httpx2.get(f"{base or served.base}/readyz", timeout=1,
                          verify=verify).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not ready within {timeout:.0f} s:\n{served.output()}")
        time.sleep(0.05)


def stop(served: Served, timeout: float = STOP_SECONDS) -> int:
    """SIGTERM, as an orchestrator stops it; SIGKILL to its whole process group (workers
    included) if it is still there after ``timeout``. Returns the exit status."""
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        try:
            return served.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Not yet reaped, so the group (its own session, started above) is still ours.
            os.killpg(served.proc.pid, signal.SIGKILL)
            served.proc.wait()
            pytest.fail(f"server did not stop within {timeout:.0f} s of SIGTERM:\n"
                        f"{served.output()}")
    return served.proc.returncode


@contextmanager
def serving(env: dict[str, str], cwd: Path, *, workers: int = 1,
            name: str = "server") -> Iterator[Served]:
    """A ready server, stopped when the block ends however it ends."""
    served = start(env, cwd, workers=workers, name=name)
    try:
        wait_ready(served)
        yield served
    finally:
        stop(served)


@contextmanager
def serving_together(envs: list[dict[str, str]], cwd: Path) -> Iterator[list[Served]]:
    """Several servers started at once (their start-ups overlap), all stopped at the end."""
    with ExitStack() as stack:
        started = []
        for i, env in enumerate(envs):
            served = start(env, cwd, name=f"server-{i}")
            stack.callback(stop, served)
            started.append(served)
        for served in started:
            wait_ready(served)
        yield started


def sign_request() -> dict[str, Any]:
    """The order-sign example (one card, one coverage-information action) with a fresh
    hookInstance, so each call's decision record can be told apart."""
    body = example()
    body["hookInstance"] = str(uuid.uuid4())
    return body


def call(served: Served, token: str | None = None, body: dict[str, Any] | None = None,
         ) -> httpx2.Response:
    """One hook call on a fresh connection (a new client each time, as separate EHR requests
    arrive); ``token`` is sent as the bearer token when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.post(served.base + SIGN, json=body or sign_request(), headers=headers,
                       timeout=CALL_SECONDS)


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text ``text`` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _read(str(stat)).rsplit(b")", 1)
        if len(fields) == 2 and int(fields[1].split()[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:  # the process ended meanwhile
        return b""

