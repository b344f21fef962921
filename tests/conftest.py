"""Shared fixtures: an app configured as in development with auth and records off, so these tests
exercise the hook behaviour alone (auth and records have their own suites)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.logs import JsonFormatter, LibraryLines
from cds_service.main import create_app
from tests.support import example_resource, settings_for


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(settings_for(tmp_path, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def _example_patient() -> dict[str, str]:
    patient = example_resource("Patient-pat-cryo-1")
    return {"family name": patient["name"][0]["family"],
            "given name": patient["name"][0]["given"][0],
            "birth date": patient["birthDate"], "MRN": patient["identifier"][0]["value"]}


EXAMPLE_PATIENT = _example_patient()


@pytest.fixture(autouse=True)
def no_patient_data_in_the_log() -> Iterator[None]:
    """Every log line of every in-process test, filtered and formatted as the service writes it,
    at DEBUG, must be free of the example patient's name, birth date and MRN: the bad-input cases
    send them in every place a caller can (tests/test_bad_input.py, tests/test_log_privacy.py)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    # Every logger at DEBUG, libraries' too (the HTTP client, the database driver), passed
    # through the service's own filter (logs.LibraryLines), as CDS_LOG_LEVEL=DEBUG runs.
    handler = Collect(logging.DEBUG)
    handler.addFilter(LibraryLines())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    leaked = [(what, line) for line in lines for what, value in EXAMPLE_PATIENT.items()
              if value in line]
    assert not leaked, leaked
