"""A real local HTTP server that hangs: the hook call still answers (412) within the FHIR time
limit, whether the server never answers or drips its answer a byte at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.main import create_app
from cds_service.runtime import Runtime
from tests.auth.ehr import EHR, example, settings_for, with_fhir_access, write_trust

LIMIT = 0.5


class HangingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.release = threading.Event()
        self.requests = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fhir"


class _Handler(BaseHTTPRequestHandler):
    server: HangingServer

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.server.mode == "silent":
            self.server.release.wait(10)  # never answers while the test runs
            return
        # "drip": a valid start, then one byte every 100 ms (each read is quick, the whole
        # answer is not)
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", "10000")
        self.end_headers()
        while not self.server.release.wait(0.1):
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(params=["silent", "drip"])
def hanging(request: pytest.FixtureRequest) -> Iterator[HangingServer]:
    server = HangingServer(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_hanging_fhir_server_gets_412_within_the_time_limit(tmp_path: Path,
                                                              hanging: HangingServer) -> None:
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry(fhir_servers=[hanging.base]))
    # Development: the local server speaks plain http. The real network, no mock transport.
    settings = settings_for(tmp_path, trust, environment="development",
                            fhir_timeout_seconds=LIMIT)
    body = with_fhir_access(example(), server=hanging.base)
    del body["prefetch"]["coverage"]
    with TestClient(create_app(settings, Runtime.build(settings))) as service:
        started = time.monotonic()
        response = service.post("/cds-services/crd-order-sign", json=body,
                                headers=ehr.auth(settings.service_url("cds-services/crd-order-sign")))
        elapsed = time.monotonic() - started
    assert response.status_code == 412, response.text
    assert "timed out" in response.text
    assert hanging.requests == 1
    assert elapsed < LIMIT + 1.5, elapsed
