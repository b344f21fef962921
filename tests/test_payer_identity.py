"""Payer identity (Da Vinci CRD 2.2): with identifiers configured, other payers' members get 400."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds_service.errors import ConfigurationError
from cds_service.payer.models import BUNDLED_PAYER_FILE
from cds_service.runtime import Runtime
from tests.support import assert_outcome, call, example, settings_for

NAIC = "http://hl7.org/fhir/sid/us-naic"
SIGN = "order-sign-47383-commercial-hepatocellular-carcinoma"


@pytest.fixture
def payer_client(tmp_path: Path, make_client: Callable[..., TestClient]) -> TestClient:
    payer = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    payer["identifiers"] = [{"system": NAIC, "value": "99999"}]
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump(payer))
    return make_client(payer_file=path)


def coverage(body: dict[str, Any]) -> dict[str, Any]:
    return body["prefetch"]["coverage"]["entry"][0]["resource"]


def test_by_default_any_coverage_sent_to_us_is_ours(client: TestClient) -> None:
    assert call(client, example(SIGN)).status_code == 200


def test_coverage_naming_our_identifier_on_the_reference_is_accepted(
        payer_client: TestClient) -> None:
    body = example(SIGN)
    coverage(body)["payor"][0]["identifier"] = {"system": NAIC, "value": "99999"}
    answer = call(payer_client, body)
    assert answer.status_code == 200
    assert len(answer.json()["systemActions"]) == 1


def test_coverage_naming_our_identifier_on_a_contained_organization_is_accepted(
        payer_client: TestClient) -> None:
    body = example(SIGN)
    cov = coverage(body)
    cov["contained"] = [{"resourceType": "Organization", "id": "payer",
                         "identifier": [{"system": NAIC, "value": "99999"}]}]
    cov["payor"] = [{"reference": "#payer"}]
    assert call(payer_client, body).status_code == 200


def test_coverage_of_another_payer_gets_400(payer_client: TestClient) -> None:
    body = example(SIGN)
    coverage(body)["payor"][0]["identifier"] = {"system": NAIC, "value": "11111"}
    assert_outcome(call(payer_client, body), 400, mentions="Coverage.payor")


def test_coverage_without_payer_identifier_gets_400(payer_client: TestClient) -> None:
    assert_outcome(call(payer_client, example(SIGN)), 400, mentions="Coverage.payor")


def test_accepting_any_payer_is_an_explicit_development_setting(
        tmp_path: Path, make_client: Callable[..., TestClient]) -> None:
    payer = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    payer["identifiers"] = [{"system": NAIC, "value": "99999"}]
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump(payer))
    client = make_client(payer_file=path, accept_any_payer=True)  # development (settings_for)
    body = example(SIGN)
    coverage(body)["payor"][0]["identifier"] = {"system": NAIC, "value": "11111"}
    answer = call(client, body)
    assert answer.status_code == 200
    assert len(answer.json()["systemActions"]) == 1


def test_accepting_any_payer_is_refused_outside_development(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, environment="production", accept_any_payer=True)
    with pytest.raises(ConfigurationError) as refused:
        Runtime.build(settings)
    assert "CDS_ACCEPT_ANY_PAYER=true" in str(refused.value)
    assert "CDS_ENVIRONMENT=development" in str(refused.value)
