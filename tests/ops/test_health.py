"""Health probes of a served process: /healthz answers 200 while the process runs; /readyz answers
503 naming the database while the records database cannot be reached, and 200 again once it can.

The database goes away as it does in production, over the network: the service reaches PostgreSQL
through a TCP relay run by the test, and the relay is cut (every connection dropped, nothing
listening) and later restored on the same port. The PostgreSQL server itself is not touched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy.engine import make_url

from cds_service.store.db import Database
from tests.ops.processes import development, serving

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class Relay:
    """Forwards a loopback port to ``upstream``; ``cut`` drops every connection and stops
    listening, ``restore`` listens on the same port again. ``freeze`` stops moving bytes while
    every connection stays open, as a stopped (SIGSTOP) or hung server looks to its clients: the
    kernel still accepts connections and data, nothing answers; ``thaw`` moves them again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._thawed = threading.Event()
        self._thawed.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: same port
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)

    def cut(self) -> None:
        with self._lock:
            doomed = [s for s in (self._listener, *self._sockets) if s is not None]
            self._listener, self._sockets = None, []
        for s in doomed:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
            s.close()

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def close(self) -> None:
        self.thaw()
        self.cut()
        for thread in self._threads:
            thread.join(5)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                return
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while self._thawed.wait() and (data := source.recv(65536)):
                self._thawed.wait()  # what arrived as the freeze began waits for the thaw
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)


@pytest.fixture
def relay(postgres_url: str) -> Iterator[Relay]:
    url = make_url(postgres_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    relay.restore()
    try:
        yield relay
    finally:
        relay.close()


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    response = httpx2.get(f"{base}/readyz", timeout=15)
    return response.status_code, response.json()


def wait_readiness(base: str, status: int, seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        code, body = readiness(base)
        if code == status or time.monotonic() > deadline:
            assert code == status, body
            return body
        time.sleep(0.1)


def test_readiness_follows_the_records_database(postgres_url: str, relay: Relay,
                                                tmp_path: Path) -> None:
    database = Database(postgres_url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    password = make_url(postgres_url).password
    through_relay = make_url(postgres_url).set(host="127.0.0.1", port=relay.port)
    env = development(tmp_path, CDS_DATABASE_URL=through_relay.render_as_string(
        hide_password=False))

    with serving(env, tmp_path) as served:
        assert httpx2.get(f"{served.base}/healthz", timeout=5).status_code == 200
        assert readiness(served.base) == (200, {"status": "ready", "checks": {
            "policies": True, "database": True}})

        relay.cut()
        assert wait_readiness(served.base, 503) == {"status": "not ready", "checks": {
            "policies": True, "database": False}}
        assert httpx2.get(f"{served.base}/healthz", timeout=5).status_code == 200

        relay.restore()
        assert wait_readiness(served.base, 200)["checks"]["database"] is True

    assert served.proc.returncode == 0
    unreachable = [e for e in served.log_lines()
                   if e["message"].startswith("records database unavailable")]
    assert unreachable and all("127.0.0.1" in e["database"] for e in unreachable)
    assert password and password not in served.output()
