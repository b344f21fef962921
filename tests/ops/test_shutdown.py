"""Graceful shutdown: SIGTERM while a hook call is in flight (its Coverage is being fetched from a
slow FHIR server) stops new connections, lets the call finish with its 200, and the process then
exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.auth.ehr import with_fhir_access
from tests.ops.processes import STOP_SECONDS, call, development, serving, sign_request
from tests.support import example_resource

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("each_http_stack")]

DELAY_SECONDS = 1.0


class SlowFhirServer(ThreadingHTTPServer):
    """Answers a Coverage search with the member's commercial Coverage, after a delay."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fhir"


class _Handler(BaseHTTPRequestHandler):
    server: SlowFhirServer

    def do_GET(self) -> None:
        self.server.asked.set()
        time.sleep(DELAY_SECONDS)
        coverage = example_resource("Coverage-cov-commercial")
        body = json.dumps({"resourceType": "Bundle", "type": "searchset",
                           "entry": [{"resource": coverage}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def slow_fhir() -> Iterator[SlowFhirServer]:
    server = SlowFhirServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):  # reset: left in the closed backlog
        return True
    except TimeoutError:
        # The listen backlog is full of this loop's own earlier connections, which a server
        # that has stopped accepting never takes: turned away all the same.
        return True
    return False


def test_sigterm_lets_the_call_in_flight_finish_then_exits_0(slow_fhir: SlowFhirServer,
                                                             tmp_path: Path) -> None:
    body = with_fhir_access(sign_request(), server=slow_fhir.base)
    del body["prefetch"]["coverage"]  # fetched from the slow server
    env = development(tmp_path, CDS_FHIR_TIMEOUT_SECONDS="10")
    with serving(env, tmp_path) as served, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(call, served, None, body)
        assert slow_fhir.asked.wait(10), served.output()
        os.kill(served.proc.pid, signal.SIGTERM)

        # New connections are turned away while the call is still being answered.
        refused = False
        while not in_flight.done() and not refused:
            refused = refuses_connections(served.port)
            time.sleep(0.01)  # a probe, not a flood: each connection waits in the backlog
        assert refused and not in_flight.done()

        response = in_flight.result(timeout=15)
        assert response.status_code == 200, response.text
        assert "Commercial" in response.json()["cards"][0]["summary"]
        assert served.proc.wait(STOP_SECONDS) == 0
