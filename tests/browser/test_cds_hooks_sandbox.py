"""The local CDS Hooks sandbox walkthrough of docs/integrating.md, word for word: the service
started by the page's own command line (its ports swapped for free ones), a local copy of the
sandbox (cds-hooks/sandbox) served by webpack, an open FHIR server holding the example member, and
headless Chromium signing an order in the sandbox's Rx Sign tab.

Opt-in, as it needs a checkout of the sandbox with its npm dependencies installed and minutes to
compile it (about 100 s here); without it the test skips::

    CDS_TEST_SANDBOX_DIR=<checkout> .venv/bin/pytest tests/browser/test_cds_hooks_sandbox.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from selenium import webdriver
from selenium.webdriver.common.by import By
from starlette.middleware.cors import CORSMiddleware

from tests.ops.processes import free_port
from tests.support import ROOT

SANDBOX_DIR = os.environ.get("CDS_TEST_SANDBOX_DIR", "")
RESOURCES = ROOT / "fhir_examples" / "resources"
COMPILE_SECONDS = 600.0
START_SECONDS = 60.0
ANSWER_SECONDS = 90.0

pytestmark = pytest.mark.skipif(
    not (SANDBOX_DIR and (Path(SANDBOX_DIR) / "node_modules").is_dir()),
    reason="set CDS_TEST_SANDBOX_DIR to a cds-hooks/sandbox checkout after npm install")


def walkthrough_command(sandbox_port: int, service_port: int) -> str:
    """The page's command line for the local sandbox, on free ports instead of 8080 and 8081."""
    page = (ROOT / "docs" / "integrating.md").read_text()
    section = page[page.index("### A local copy of the sandbox"):]
    block = section[section.index("```sh\n") + 6:]
    command = block[:block.index("```")]
    assert "make run PORT=8081" in command and "http://localhost:8080" in command
    return command.replace("8080", str(sandbox_port)).replace("8081", str(service_port))


def open_fhir_server() -> FastAPI:
    """An open FHIR R4 server for the sandbox: the example patient and its commercial Coverage,
    readable from any page (the browser reads it, so CORS)."""
    patient = json.loads((RESOURCES / "Patient-pat-cryo-1.json").read_text())
    coverage = json.loads((RESOURCES / "Coverage-cov-commercial.json").read_text())

    def bundle(*found: dict[str, Any]) -> dict[str, Any]:
        value: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                 "total": len(found)}
        if found:
            value["entry"] = [{"resource": r, "search": {"mode": "match"}} for r in found]
        return value

    app = FastAPI()
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                       allow_headers=["*"])
    answers = {
        "metadata": {"resourceType": "CapabilityStatement", "status": "active",
                     "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
                     "date": "2026-12-07"},
        "Patient": bundle(patient), f"Patient/{patient['id']}": patient,
        "Condition": bundle(), "Coverage": bundle(coverage), "Coverage/_search": bundle(coverage),
    }

    @app.api_route("/fhir/{path:path}", methods=["GET", "POST"])
    async def read(path: str) -> JSONResponse:
        if path in answers:
            return JSONResponse(answers[path], media_type="application/fhir+json")
        return JSONResponse({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "not-found"}]}, status_code=404)

    return app


@pytest.fixture
def fhir_base() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(open_fhir_server(), host="127.0.0.1", port=port,
                                           log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "FHIR server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/fhir"
    server.should_exit = True
    thread.join(START_SECONDS)


def started(args: list[str] | str, cwd: Path, log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, **kwargs)


def stopped(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group started above (make and the service; npx and webpack)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"{url}: exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx2.get(url, timeout=5).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url}: not up in {timeout:.0f} s"
        time.sleep(0.5)


def button(browser: webdriver.Chrome, label: str) -> Any:
    return next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == label)


def page_text_with(browser: webdriver.Chrome, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = str(browser.find_element(By.TAG_NAME, "body").text)
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{pattern!r} not shown:\n{text[:3000]}"
        time.sleep(0.5)


def test_the_local_sandbox_signs_an_order_against_the_documented_service(
        tmp_path: Path, fhir_base: str, browser: webdriver.Chrome) -> None:
    sandbox_port, service_port = free_port(), free_port()
    service_log, sandbox_log = tmp_path / "service.log", tmp_path / "sandbox.log"
    service = started(["bash", "-c", walkthrough_command(sandbox_port, service_port)], ROOT,
                      service_log)
    sandbox = started(["npx", "webpack", "serve", "--config", "webpack.config.dev.js",
                       "--host", "localhost", "--port", str(sandbox_port)],
                      Path(SANDBOX_DIR), sandbox_log)
    try:
        wait_for(f"http://127.0.0.1:{service_port}/healthz", service, service_log,
                 START_SECONDS)
        wait_for(f"http://localhost:{sandbox_port}/", sandbox, sandbox_log, COMPILE_SECONDS)
        discovery = f"http://127.0.0.1:{service_port}/cds-services"
        browser.get(f"http://localhost:{sandbox_port}/?fhirServiceUrl={quote(fhir_base, '')}"
                    f"&patientId=pat-cryo-1&serviceDiscoveryURL={quote(discovery, '')}")
        page_text_with(browser, r"ID: pat-cryo-1", ANSWER_SECONDS)
        button(browser, "Rx Sign").click()
        page_text_with(browser, r"crd-order-sign", ANSWER_SECONDS)
        button(browser, "Sign Order").click()
        text = page_text_with(browser, r"ext-coverage-information", ANSWER_SECONDS)
    finally:
        stopped(sandbox)
        stopped(service)
    # No card of ours for a medication, so the sandbox's card list says "All clear!", while
    # the Developer Panel shows our answer: the order's coverage information from the Coverage
    # the sandbox prefetched from its FHIR server.
    assert "All clear!" in text
    assert '"reference": "Coverage/cov-commercial"' in text
    log = service_log.read_text()
    assert '"message": "hook answered"' in log and '"iss": "https://sandbox.cds-hooks.org"' in log
