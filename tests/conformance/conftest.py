"""Fixtures for the conformance tests: the service with auth and decision records switched off
(so these tests depend on neither), and a way to call it as an EHR does. Requests that prefetch
no Coverage get it from a stand-in for their EHR's FHIR server (``EHR_COVERAGE``), as a real
EHR would answer the service's query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from cds_service.config import Settings
from cds_service.main import create_app
from cds_service.payer.models import load_payer
from cds_service.runtime import Runtime
from tests.support import EXAMPLE_PAYER, WITH_EXAMPLES

from .data import FHIR_TOOLS_IG, SERVICE_IDS, fake_ehr, payors
from .logical_model import LogicalModels

Call = Callable[[dict[str, Any]], httpx2.Response]
EXAMPLE_PAYER_NAME = load_payer(EXAMPLE_PAYER).name


def _service(tmp: Path, **settings: Any) -> Iterator[TestClient]:
    # One app per test module: with auth and records off the service keeps no state between
    # calls, and the modules' hundreds of calls stay fast.
    config = Settings(environment="development", auth_enabled=False, record_decisions=False,
                      database_url=f"sqlite:///{tmp / 'db.sqlite'}", **settings)
    app = create_app(config, Runtime.build(config, transport=httpx2.MockTransport(fake_ehr)))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def cds_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service with its bundled policies and payer file."""
    yield from _service(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="module")
def examples_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service of the example policies' fictional payer, as fhir_examples/README.md runs it
    (CDS_POLICY_DIR=fhir_examples/policies, CDS_PAYER_FILE=fhir_examples/payer.yaml)."""
    yield from _service(tmp_path_factory.mktemp("conformance-examples"), **WITH_EXAMPLES)


@pytest.fixture
def call(cds_client: TestClient, examples_client: TestClient) -> Call:
    """POST a hook request to the service that answers its ``hook``, of the member's payer: one
    service answers for one payer, so the EHR calls the example payer's for its members."""

    def post(body: dict[str, Any]) -> httpx2.Response:
        client = examples_client if EXAMPLE_PAYER_NAME in payors(body) else cds_client
        return client.post(f"/cds-services/{SERVICE_IDS[body['hook']]}", json=body)

    return post


@pytest.fixture(scope="session")
def models() -> LogicalModels:
    return LogicalModels(FHIR_TOOLS_IG)
