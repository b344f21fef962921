"""Pages as a person sees them: Debian's headless Chromium (``chromium``, ``chromium-driver``)
driven by Selenium against the app served by uvicorn on a loopback port. No browser is ever
downloaded: without the Debian packages these tests skip, except under CI (``CI=true``), where
that is a failure (``.ci/run`` installs them)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from cds_service.main import create_app
from tests.ops.processes import free_port
from tests.support import ROOT, WITH_EXAMPLES, settings_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_SECONDS = 20.0


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: CI must run the browser tests (.ci/run installs them)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with its bundled policies plus the test-only one (a policy without
    indications), as ``make run`` serves them (auth does not matter: the pages are public)."""
    yield from _serve(tmp_path_factory.mktemp("browser"), ROOT / "tests" / "data" / "policies")


@pytest.fixture(scope="session")
def examples_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with the example policies and their fictional payer's file, as
    fhir_examples/README.md runs them."""
    yield from _serve(tmp_path_factory.mktemp("browser-examples"), **WITH_EXAMPLES)


def _serve(tmp: Path, policy_dir: Path, payer_file: Path | None = None) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings_for(tmp, public_base_url=base, policy_dir=policy_dir,
                                  payer_file=payer_file))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, ws="none",
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(START_SECONDS)


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    _require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
