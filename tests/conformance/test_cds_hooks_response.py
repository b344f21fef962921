"""CDS Hooks 2.0 response rules (§CDS Service Response, §Card Attributes, §Source, §Suggestion,
§Action, §Link, §Use of JSON) for our answer to every fhir_examples request."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from .cds_hooks import (
    action_problems,
    card_problems,
    empty_value_problems,
    link_problems,
    override_reason_problems,
    response_problems,
    suggestion_problems,
    top_level_problems,
    uuids,
)
from .conftest import Call
from .data import example_requests, load_json

EXAMPLES = example_requests()
ORDER_SIGN = [p for p in EXAMPLES if load_json(p)["hook"] == "order-sign"]


def answer(call: Call, path: Path) -> dict[str, Any]:
    response = call(load_json(path))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_response_is_an_object_with_a_cards_array(call: Call, path: Path) -> None:
    body = answer(call, path)
    assert top_level_problems(body, load_json(path)["hook"]) == []


@pytest.mark.parametrize("path", ORDER_SIGN, ids=lambda p: p.name)
def test_order_sign_response_always_has_system_actions(call: Call, path: Path) -> None:
    assert isinstance(answer(call, path).get("systemActions"), list)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_cards_have_a_uuid_a_short_summary_an_indicator_and_a_labelled_topical_source(
        call: Call, path: Path) -> None:
    assert card_problems(answer(call, path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_suggestions_have_a_selection_behavior_a_label_and_a_uuid(call: Call, path: Path) -> None:
    assert suggestion_problems(answer(call, path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_actions_have_type_description_and_the_resource_or_id_their_type_needs(
        call: Call, path: Path) -> None:
    assert action_problems(answer(call, path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_override_reasons_are_codings_with_code_system_and_display(
        call: Call, path: Path) -> None:
    assert override_reason_problems(answer(call, path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_links_are_absolute_http_urls_without_app_context(call: Call, path: Path) -> None:
    assert link_problems(answer(call, path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_response_never_contains_null_or_empty_values(call: Call, path: Path) -> None:
    assert empty_value_problems(answer(call, path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_uuids_are_unique_within_a_response_and_across_two_calls(
        call: Call, path: Path) -> None:
    first, second = uuids(answer(call, path)), uuids(answer(call, path))
    assert len(first) == len(set(first)), first
    assert set(first).isdisjoint(second), sorted(set(first) & set(second))


# -- the rules themselves must be able to fail -------------------------------------------------

GOOD: dict[str, Any] = {
    "cards": [{
        "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "summary": "Not covered for this member",
        "indicator": "warning",
        "source": {"label": "Payer", "url": "https://payer.example.org",
                   "topic": {"system": "http://terminology.hl7.org/CodeSystem/cdshooks-card-type",
                             "code": "guideline"}},
        "links": [{"label": "Policy", "url": "https://payer.example.org/p", "type": "absolute"}],
        "suggestions": [{"label": "Remove", "uuid": "0941cda0-91d7-42db-b5af-0ebbef2507bf",
                         "actions": [{"type": "delete", "description": "Remove the order",
                                      "resourceId": "ServiceRequest/sr-1"}]}],
        "selectionBehavior": "at-most-one",
        "overrideReasons": [{"system": "https://payer.example.org/r", "code": "a",
                             "display": "A"}],
    }],
    "systemActions": [{"type": "update", "description": "Record coverage information",
                       "resource": {"resourceType": "ServiceRequest", "id": "sr-1"}}],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with one element set (``value`` None deletes it); path like ``cards.0.summary``."""
    response = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node: Any = response
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is None:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return response


BROKEN = {
    "no cards": (_with("cards", None), "$.cards"),
    "order-sign without systemActions": (_with("systemActions", None), "$.systemActions"),
    "card without uuid": (_with("cards.0.uuid", None), "$.cards[0].uuid"),
    "card uuid that is not a UUID": (_with("cards.0.uuid", "card-1"), "$.cards[0].uuid"),
    "summary of 140 characters": (_with("cards.0.summary", "x" * 140), "$.cards[0].summary"),
    "indicator hard-stop": (_with("cards.0.indicator", "hard-stop"), "$.cards[0].indicator"),
    "empty source label": (_with("cards.0.source.label", " "), "$.cards[0].source.label"),
    "topic without system": (_with("cards.0.source.topic", {"code": "guideline"}),
                             "$.cards[0].source.topic"),
    "relative source url": (_with("cards.0.source.url", "/payer"), "$.cards[0].source.url"),
    "suggestions without selectionBehavior": (_with("cards.0.selectionBehavior", None),
                                              "$.cards[0].selectionBehavior"),
    "suggestion without uuid": (_with("cards.0.suggestions.0.uuid", None),
                                "$.cards[0].suggestions[0].uuid"),
    "suggestion without label": (_with("cards.0.suggestions.0.label", None),
                                 "$.cards[0].suggestions[0].label"),
    "action without description": (_with("systemActions.0.description", None),
                                   "$.systemActions[0].description"),
    "update without resource": (_with("systemActions.0.resource", None),
                                "$.systemActions[0].resource"),
    "delete without resourceId": (_with("cards.0.suggestions.0.actions.0.resourceId", None),
                                  "actions[0].resourceId"),
    "delete with a resource": (
        _with("cards.0.suggestions.0.actions.0.resource", {"resourceType": "ServiceRequest"}),
        "actions[0].resource"),
    "override reason without display": (_with("cards.0.overrideReasons.0.display", None),
                                        "$.cards[0].overrideReasons[0]"),
    "smart link": (_with("cards.0.links.0.type", "smart"), "$.cards[0].links[0].type"),
    "link with appContext": (_with("cards.0.links.0.appContext", "x"),
                             "$.cards[0].links[0].appContext"),
    "relative link url": (_with("cards.0.links.0.url", "/policies/p"), "$.cards[0].links[0].url"),
    "empty string": (_with("cards.0.detail", ""), "$.cards[0].detail"),
    "empty array": (_with("cards.0.links", []), "$.cards[0].links"),
    "empty object in a resource": (_with("systemActions.0.resource.code", {}),
                                   "$.systemActions[0].resource.code"),
    "duplicate uuid": (_with("cards.0.suggestions.0.uuid", GOOD["cards"][0]["uuid"]),
                       "uuids used more than once"),
}
BROKEN["null element"] = ({**copy.deepcopy(GOOD), "extension": None}, "$.extension")


def test_the_response_rules_accept_a_conforming_response() -> None:
    assert response_problems(GOOD, "order-sign") == []
    assert response_problems({"cards": [], "systemActions": []}, "order-sign") == []
    assert response_problems({"cards": []}, "order-select") == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_response_rules_reject_a_broken_response(case: str) -> None:
    response, expected = BROKEN[case]
    problems = response_problems(response, "order-sign")
    assert any(expected in p for p in problems), problems
