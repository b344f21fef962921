"""Fixtures for the conformance tests: the service with auth and decision records switched off
(so these tests depend on neither), and a way to call it as an EHR does. Requests that prefetch
no Coverage get it from a stand-in for their EHR's FHIR server (``EHR_COVERAGE``), as a real
EHR would answer the service's query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from cds_service.config import Settings
from cds_service.main import create_app
from cds_service.runtime import Runtime

from .data import EXAMPLES, FHIR_TOOLS_IG, SERVICE_IDS, fake_ehr
from .logical_model import LogicalModels

Call = Callable[[dict[str, Any]], httpx2.Response]


@pytest.fixture(scope="module")
def cds_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # One app per test module: with auth and records off the service keeps no state between
    # calls, and the modules' hundreds of calls stay fast.
    database = tmp_path_factory.mktemp("conformance") / "db.sqlite"
    # With the example policies beside the bundled one, as fhir_examples/README.md runs them:
    # every example request is evaluated with its policy directory.
    settings = Settings(environment="development", auth_enabled=False,
                        record_decisions=False, database_url=f"sqlite:///{database}",
                        policy_dir=EXAMPLES / "policies")
    app = create_app(settings, Runtime.build(settings, transport=httpx2.MockTransport(fake_ehr)))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def call(cds_client: TestClient) -> Call:
    """POST a hook request to the service that answers its ``hook``."""

    def post(body: dict[str, Any]) -> httpx2.Response:
        return cds_client.post(f"/cds-services/{SERVICE_IDS[body['hook']]}", json=body)

    return post


@pytest.fixture(scope="session")
def models() -> LogicalModels:
    return LogicalModels(FHIR_TOOLS_IG)
