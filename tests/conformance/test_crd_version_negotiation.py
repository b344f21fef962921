"""Da Vinci CRD version negotiation: the client names the version it wants in
``extension."davinci-crd.requestedVersion"`` (one of discovery's ``davinci-crd.version``) and gets
that version's shapes: 2.1 card topics from the IG's temp code system and coverage-information
detail without ``category``; 2.2 (the default) topics from terminology.hl7.org's
cdshooks-card-type and ``detail.category``."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Call
from .crd import CARD_TYPE_SYSTEMS, COVERAGE_INFORMATION, coverage_information_problems
from .data import EXAMPLES, load_json

REQUEST = EXAMPLES / "requests" / "order-sign-two-cryoablation-orders.json"


def answer(call: Call, requested: str | None) -> dict[str, Any]:
    body = load_json(REQUEST)
    if requested is not None:
        body["extension"] = {"davinci-crd.requestedVersion": requested}
    response = call(body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["cards"] and answer["systemActions"], "the request should get cards and actions"
    return answer


def details(response: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The parts of every coverage-information detail in the response."""
    return [sub["extension"] for action in response["systemActions"]
            for ext in action["resource"]["extension"] if ext["url"] == COVERAGE_INFORMATION
            for sub in ext["extension"] if sub["url"] == "detail"]


@pytest.mark.parametrize(("requested", "version"), [(None, "2.2"), ("2.2", "2.2"), ("2.1", "2.1")],
                         ids=["default", "2.2", "2.1"])
def test_card_topics_use_the_requested_versions_card_type_system(
        call: Call, requested: str | None, version: str) -> None:
    response = answer(call, requested)
    assert {c["source"]["topic"]["system"] for c in response["cards"]} == {
        CARD_TYPE_SYSTEMS[version]}


@pytest.mark.parametrize(("requested", "version"), [(None, "2.2"), ("2.2", "2.2"), ("2.1", "2.1")],
                         ids=["default", "2.2", "2.1"])
def test_coverage_information_detail_has_category_only_from_2_2(
        call: Call, requested: str | None, version: str) -> None:
    response = answer(call, requested)
    found = details(response)
    assert found, "no coverage-information detail to check"
    with_category = [any(p["url"] == "category" for p in parts) for parts in found]
    assert with_category == [version == "2.2"] * len(found)
    for action in response["systemActions"]:
        assert coverage_information_problems(action, version) == []
