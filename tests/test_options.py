"""Da Vinci CRD hook configuration and version negotiation, as the EHR sends them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import call, example

TWO = "order-sign-two-cryoablation-orders"
TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
THO_CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
THO_DETAIL = "http://terminology.hl7.org/CodeSystem/crd-coverage-detail"


def with_extension(name: str, extension: dict[str, Any]) -> dict[str, Any]:
    body = example(name)
    body["extension"] = extension
    return body


def test_coverage_info_false_suppresses_the_actions_but_keeps_cards(client: TestClient) -> None:
    answer = call(client, with_extension(TWO, {"davinci-crd.configuration":
                                               {"coverage-info": False}})).json()
    assert len(answer["cards"]) == 2
    assert answer["systemActions"] == []


def test_reference_implementation_option_name_coverage_is_honoured(client: TestClient) -> None:
    answer = call(client, with_extension(TWO, {"davinci-crd.configuration":
                                               {"coverage": False}})).json()
    assert answer["systemActions"] == []


def test_card_type_false_suppresses_those_cards_but_keeps_actions(client: TestClient) -> None:
    answer = call(client, with_extension(TWO, {"davinci-crd.configuration":
                                               {"guideline": False}})).json()
    assert answer["cards"] == []
    assert len(answer["systemActions"]) == 2


def test_max_cards_limits_cards_not_actions(client: TestClient) -> None:
    answer = call(client, with_extension(TWO, {"davinci-crd.configuration":
                                               {"max-cards": 1}})).json()
    assert len(answer["cards"]) == 1
    assert len(answer["systemActions"]) == 2
    answer = call(client, with_extension(TWO, {"davinci-crd.configuration":
                                               {"max-cards": 0}})).json()
    assert answer["cards"] == []


def test_unknown_and_nonsense_options_are_ignored(client: TestClient) -> None:
    for config in ({"com.example.option": True, "cost": False},
                   {"max-cards": "ten", "coverage-info": "maybe"}, "not an object",
                   {"max-cards": -3}, {"max-cards": True}):
        answer = call(client, with_extension(TWO, {"davinci-crd.configuration": config}))
        assert answer.status_code == 200
        assert len(answer.json()["cards"]) == 2
        assert len(answer.json()["systemActions"]) == 2


def coverage_detail(answer: dict[str, Any]) -> list[list[dict[str, Any]]]:
    ext = answer["systemActions"][0]["resource"]["extension"][-1]["extension"]
    return [e["extension"] for e in ext if e["url"] == "detail"]


def without_version(name: str) -> dict[str, Any]:
    body = example(name)
    body.pop("extension", None)
    return body


def test_a_request_naming_no_version_is_answered_in_crd_2_0_1(client: TestClient) -> None:
    answer = call(client, without_version(TWO)).json()
    assert answer["cards"][0]["source"]["topic"]["system"] == \
        "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
    assert coverage_detail(answer) == []  # 2.0.1 has no policy-link detail


@pytest.mark.parametrize(("requested", "topic_system", "detail_system"), [
    ("2.0", TEMP, None), ("2.0.1", TEMP, None),
    ("2.1", TEMP, TEMP), ("2.1.0", TEMP, TEMP),
    ("2.2", THO_CARD_TYPE, THO_DETAIL), ("2.2.1", THO_CARD_TYPE, THO_DETAIL)])
def test_the_requested_version_chooses_card_topic_and_detail_codes(
        client: TestClient, requested: str, topic_system: str, detail_system: str | None) -> None:
    answer = call(client, with_extension(TWO, {"davinci-crd.requestedVersion": requested})).json()
    assert answer["cards"][0]["source"]["topic"]["system"] == topic_system
    details = coverage_detail(answer)
    assert [d[-2]["valueCodeableConcept"]["coding"][0]["system"] for d in details] == \
        ([detail_system] if detail_system else [])
    assert all((d[0]["url"] == "category") == requested.startswith("2.2") for d in details)


def test_a_version_the_service_does_not_answer_falls_back_to_the_default(
        client: TestClient) -> None:
    for requested in ("1.0", "3.7", "latest", 2.2):
        answer = call(client, with_extension(TWO, {"davinci-crd.requestedVersion": requested}))
        assert answer.status_code == 200
        assert coverage_detail(answer.json()) == []
