"""A policy file with several dated versions: the version in force on the order's date of service
decides, and the card, the coverage information and the decision record name that version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Service
from tests.store.helpers import COVERAGE_INFORMATION, assertion_ids
from tests.support import call, example, recorded_decision, write_versioned_policy

POLICY = "cryosurgical-ablation-liver-tumors"
BASE = "https://cds.payer.example/policies"


def order_on(when: dict[str, Any]) -> dict[str, Any]:
    body = example("order-sign-47383-commercial-hepatocellular-carcinoma")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order.pop("authoredOn")
    order.update(when)
    return body


def coverage_information(answer: dict[str, Any]) -> dict[str, Any]:
    [action] = answer["systemActions"]
    [ext] = [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION]
    return {sub["url"]: sub for sub in ext["extension"]}


def policy_link(info: dict[str, Any]) -> str:
    return str({d["url"]: d for d in info["detail"]["extension"]}["value"]["valueUrl"])


@pytest.fixture
def service(make_service: Callable[..., Service], tmp_path: Path) -> Service:
    return make_service(policy_dir=write_versioned_policy(tmp_path / "policies"))


@pytest.mark.parametrize(("when", "version", "summary"), [
    ({"occurrenceDateTime": "2021-06-01T08:00:00-04:00", "authoredOn": "2022-05-01"},
     "2020-01", "Not covered for this Commercial member"),
    ({"occurrencePeriod": {"start": "2021-12-01"}}, "2021-12",
     "Not medically necessary for this Commercial member"),
    # The order names no date: today decides.
    ({}, "2021-12", "Not medically necessary for this Commercial member"),
])
def test_the_version_in_force_on_the_date_of_service_decides_and_is_cited(
        service: Service, when: dict[str, Any], version: str, summary: str) -> None:
    response = call(service.http, order_on(when))
    assert response.status_code == 200, response.text
    answer = response.json()
    [card] = answer["cards"]
    assert card["summary"].startswith(summary)
    url = f"{BASE}/{POLICY}/versions/{version}"
    assert card["links"][0]["url"] == url
    info = coverage_information(answer)
    assert policy_link(info) == url
    assert info["covered"]["valueCode"] == "not-covered"
    assert info["reason"]["valueCodeableConcept"]["text"].endswith(
        "is not covered as the evidence is insufficient to determine the effects of the "
        "technology on health outcomes." if version == "2020-01" else
        "is not medically necessary as the evidence is insufficient to determine the effects "
        "of the technology on health outcomes.")
    records = service.runtime.records
    assert records is not None
    record = recorded_decision(records.db, assertion_ids(answer)[0])
    assert record["orders"][0]["policy"] == {"id": POLICY, "version": version}
    assert record["cards"][0]["policy"] == {"id": POLICY, "version": version}
    assert record["coverageAssertions"][0]["policy"] == {"id": POLICY, "version": version}


def test_before_the_first_version_the_policy_does_not_apply(service: Service) -> None:
    answer = call(service.http, order_on({"occurrenceDateTime": "2019-12-31"})).json()
    assert answer["cards"] == []
    info = coverage_information(answer)
    assert info["covered"]["valueCode"] == "indeterminate"
    assert "detail" not in info


def test_each_version_has_its_page_listing_the_others(service: Service) -> None:
    page = service.http.get(f"/policies/{POLICY}/versions/2020-01")
    assert page.status_code == 200
    assert "version 2020-01, in force from 2020-01-01" in page.text
    assert f'href="{BASE}/{POLICY}/versions/2021-12"' in page.text
    # The policy's own page is the version in force today.
    assert "version 2021-12, in force from 2021-12-01" in service.http.get(
        f"/policies/{POLICY}").text
    assert service.http.get(f"/policies/{POLICY}/versions/1999").status_code == 404
