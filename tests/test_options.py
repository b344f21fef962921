"""Da Vinci CRD hook configuration and version negotiation, as the EHR sends them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import call, example

TWO = "order-sign-two-cryoablation-orders"


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


def coverage_detail(answer: dict[str, Any]) -> list[dict[str, Any]]:
    ext = answer["systemActions"][0]["resource"]["extension"][-1]["extension"]
    return next(e for e in ext if e["url"] == "detail")["extension"]


def test_crd_2_2_is_the_default_shape(client: TestClient) -> None:
    answer = call(client, example(TWO)).json()
    assert answer["cards"][0]["source"]["topic"]["system"] == \
        "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
    assert coverage_detail(answer)[0] == {"url": "category", "valueCode": "cat-other"}


def test_crd_2_1_requested_gets_2_1_shapes(client: TestClient) -> None:
    for version in ("2.1", "2.0.1"):
        answer = call(client, with_extension(TWO, {"davinci-crd.requestedVersion": version}))
        body = answer.json()
        assert body["cards"][0]["source"]["topic"]["system"] == \
            "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
        assert all(e["url"] != "category" for e in coverage_detail(body))


def test_order_select_has_no_system_actions_member_when_there_are_none(
        client: TestClient) -> None:
    answer = call(client, example("order-select-unselected-cryoablation")).json()
    assert answer == {"cards": []}
