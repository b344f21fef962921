"""A 500 never costs the caller its next call: an error nobody expected is answered with a
complete OperationOutcome, the keep-alive connection stays open, and the next call on that very
connection is answered. The traceback goes to the log without the exception's message (which
here quotes the patient) and without any value.

Served by uvicorn in this process, as ``cds-service serve`` runs it (our limits, on each HTTP
implementation the service can serve with), so the connection handling is the server's own, not
a test client's; the failure is a component replaced for the test, not a switch in the service.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cds_service.logs import JsonFormatter
from cds_service.main import create_app
from cds_service.server.protocol import PROTOCOLS, uvicorn_options
from tests.conftest import EXAMPLE_PATIENT
from tests.ops.processes import free_port
from tests.support import example, settings_for

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"
BOOM = "2f6c1c8e-0d43-4c55-9a65-000000000500"


@pytest.fixture(params=sorted(PROTOCOLS))
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           request: pytest.FixtureRequest) -> Iterator[int]:
    settings = settings_for(tmp_path)
    app = create_app(settings)
    evaluator = app.state.runtime.evaluator
    evaluate = evaluator.evaluate

    async def failing(request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.hook_instance == BOOM:
            patient = EXAMPLE_PATIENT
            raise RuntimeError(f"no luck with {patient['family name']} {patient['MRN']}")
        return await evaluate(request, *args, **kwargs)

    monkeypatch.setattr(evaluator, "evaluate", failing)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            **{**uvicorn_options(settings),
                               "http": PROTOCOLS[request.param].bound_to(settings)})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def post(conn: http.client.HTTPConnection, hook_instance: str) -> http.client.HTTPResponse:
    body = example(SIGN)
    body["hookInstance"] = hook_instance
    conn.request("POST", "/cds-services/crd-order-sign", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    return conn.getresponse()


def test_after_a_500_the_same_connection_answers_the_next_call(
        served: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="cds_service")
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    try:
        failed = post(conn, BOOM)
        outcome = json.loads(failed.read())
        assert failed.status == 500
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "exception"
        assert "luck" not in json.dumps(outcome)  # nothing of the error reaches the caller
        assert (failed.getheader("connection") or "").lower() != "close"
        assert conn.sock is not None
        port_used = conn.sock.getsockname()[1]

        answered = post(conn, str(uuid.uuid4()))
        assert answered.status == 200, answered.read()
        assert len(json.loads(answered.read())["cards"]) == 1
        assert conn.sock is not None and conn.sock.getsockname()[1] == port_used
    finally:
        conn.close()

    [logged] = [r for r in caplog.records if r.getMessage() == "unexpected error"]
    assert logged.exc_info is not None
    line = json.loads(JsonFormatter().format(logged))
    assert "builtins.RuntimeError" in line["error"]
    assert "in failing" in line["error"]  # where it happened: frames are kept
    assert "luck" not in line["error"]  # what it said is not
