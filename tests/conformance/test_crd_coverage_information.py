"""Da Vinci CRD coverage-information systemActions (CRD STU 2.2 cards.md "Coverage Information",
ext-coverage-information with invariants q1-q9): in our answers, and, to prove the checker on
real data, in the IG's and Inferno's own examples."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import Call
from .crd import (
    COVERAGE_INFORMATION,
    answer_problems,
    coverage_actions,
    coverage_information_problems,
    draft_order,
    request_problems,
    resource_problems,
)
from .data import (
    REFERENCE,
    examples_with_coverage_information,
    files,
    load_json,
    matched_orders,
)

WITH_COVERAGE_INFORMATION = examples_with_coverage_information()
SIGNED = [p for p in WITH_COVERAGE_INFORMATION if load_json(p)["hook"] == "order-sign"]


def answered(call: Call, path: Path) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """(request, response, the dates "today" may be while the call runs)."""
    request = load_json(path)
    before = date.today()
    response = call(request)
    after = date.today()
    assert response.status_code == 200, response.text
    return request, response.json(), {before.isoformat(), after.isoformat()}


def coverage_information(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = list(coverage_actions(response))
    assert found, "the response has no coverage-information systemAction"
    return found


@pytest.mark.parametrize("path", WITH_COVERAGE_INFORMATION, ids=lambda p: p.name)
def test_coverage_information_actions_have_the_extension_parts_codes_and_invariants(
        call: Call, path: Path) -> None:
    request, response, _ = answered(call, path)
    for where, action in coverage_information(response):
        assert answer_problems(action, request) == [], where


@pytest.mark.parametrize("path", WITH_COVERAGE_INFORMATION, ids=lambda p: p.name)
def test_coverage_information_updates_the_draft_order_citing_prefetched_coverage_today_and_cpt(
        call: Call, path: Path) -> None:
    request, response, today = answered(call, path)
    matched = matched_orders(path)
    for where, action in coverage_information(response):
        order = f"{action['resource']['resourceType']}/{action['resource']['id']}"
        assert request_problems(action, request, today, matched=order in matched) == [], where


@pytest.mark.parametrize("path", WITH_COVERAGE_INFORMATION, ids=lambda p: p.name)
def test_every_system_action_is_a_coverage_information_update(call: Call, path: Path) -> None:
    _, response, _ = answered(call, path)
    assert len(list(coverage_actions(response))) == len(response["systemActions"])


@pytest.mark.parametrize("path", WITH_COVERAGE_INFORMATION, ids=lambda p: p.name)
def test_coverage_assertion_ids_are_unique_per_action(call: Call, path: Path) -> None:
    _, response, _ = answered(call, path)
    ids = [sub["valueString"] for _, action in coverage_information(response)
           for ext in action["resource"]["extension"] if ext["url"] == COVERAGE_INFORMATION
           for sub in ext["extension"] if sub["url"] == "coverage-assertion-id"]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("path", WITH_COVERAGE_INFORMATION, ids=lambda p: p.name)
def test_updated_order_validates_as_an_r4_resource_of_its_type(call: Call, path: Path) -> None:
    # Less what the EHR sent that R4 does not define: its own elements, echoed (§resp-37).
    request, response, _ = answered(call, path)
    for _, action in coverage_information(response):
        resource = action["resource"]
        sent = draft_order(request, resource["resourceType"], resource["id"])
        assert sent is not None
        assert set(resource_problems(resource)) <= set(resource_problems(sent))


# -- the checker on the IG's and Inferno's own examples ----------------------------------------

def _version(path: Path) -> str:
    return "2.2" if path.name.startswith("ig-2.2") else "2.1"  # ig-2.1.0 and Inferno (2.0.1)


EXAMPLE_ACTIONS = [
    pytest.param(path, i, id=f"{path.name}[{i}]")
    for path in files(REFERENCE / "crd", "ig-2.2.1_response_*.json", "ig-2.1.0_response_*.json")
    for i, _ in enumerate(load_json(path)["systemActions"])
] + [pytest.param(path, None, id=path.name)
     for path in files(REFERENCE / "crd", "inferno_fixture_coverage-info-systemaction_*.json")]


@pytest.mark.parametrize(("path", "index"), EXAMPLE_ACTIONS)
def test_published_coverage_information_examples_pass_the_checker(
        path: Path, index: int | None) -> None:
    data = load_json(path)
    action = data if index is None else data["systemActions"][index]
    assert coverage_information_problems(action, _version(path)) == []


# -- the checker must be able to fail ----------------------------------------------------------

def _ig_action() -> dict[str, Any]:
    action: dict[str, Any] = load_json(
        REFERENCE / "crd" / "ig-2.2.1_response_coverage-info-systemaction.json")["systemActions"][0]
    return action


def _parts(action: dict[str, Any]) -> list[dict[str, Any]]:
    subs: list[dict[str, Any]] = action["resource"]["extension"][0]["extension"]
    return subs


def _without(url: str) -> Any:
    def change(action: dict[str, Any]) -> None:
        action["resource"]["extension"][0]["extension"] = [
            s for s in _parts(action) if s["url"] != url]
    return change


def _set(url: str, **value: Any) -> Any:
    def change(action: dict[str, Any]) -> None:
        for sub in _parts(action):
            if sub["url"] == url:
                for key in [k for k in sub if k.startswith("value")]:
                    del sub[key]
                sub.update(value)
    return change


def _add(url: str, **value: Any) -> Any:
    def change(action: dict[str, Any]) -> None:
        _parts(action).append({"url": url, **value})
    return change


def _not_covered_with_pa(action: dict[str, Any]) -> None:
    _set("covered", valueCode="not-covered")(action)
    _without("satisfied-pa-id")(action)
    _set("pa-needed", valueCode="auth-needed")(action)


BROKEN_ACTIONS = {
    "q2 not-covered with pa-needed": (_not_covered_with_pa, "q2"),
    "no coverage-assertion-id": (_without("coverage-assertion-id"), "coverage-assertion-id: 0"),
    "two covered": (_add("covered", valueCode="covered"), "covered: 2 present"),
    "covered outside the value set": (_set("covered", valueCode="maybe"), "'maybe' is not one"),
    "no coverage": (_without("coverage"), "coverage: 0 present"),
    "date as dateTime text": (_set("date", valueDate="15 Feb 2019"), "date: valueDate"),
    "covered as a Coding": (_set("covered", valueCoding={"code": "covered"}), "covered: needs"),
    "q3 conditional without info-needed": (_without("info-needed"), "q3"),
    "q5 satisfied without satisfied-pa-id": (_without("satisfied-pa-id"), "q5"),
    "q6 OTH without reason": (_without("reason"), "q6"),
    "q1 questionnaire without doc-needed": (
        lambda a: (_without("doc-needed")(a), _add("questionnaire", valueCanonical="http://q")(a)),
        "q1"),
    "q9 indeterminate without reason": (
        lambda a: (_without("reason")(a), _without("info-needed")(a),
                   _set("doc-needed", valueCode="indeterminate")(a)), "q9"),
    "detail without category in 2.2": (
        lambda a: [s["extension"].pop(0) for s in _parts(a) if s["url"] == "detail"],
        "detail.category: 0 present"),
    "unknown sub-extension": (_add("copay", valueString="10%"), "unknown sub-extension"),
    "create instead of update": (lambda a: a.update(type="create"), "type:"),
    "resource that is not valid R4": (lambda a: a["resource"].update(status=["draft"]),
                                      "not a valid R4 ServiceRequest"),
    "no extension": (lambda a: a["resource"].pop("extension"), "no ext-coverage-information"),
}


def test_the_coverage_information_checker_accepts_the_ig_example() -> None:
    assert coverage_information_problems(_ig_action(), "2.2") == []


@pytest.mark.parametrize("case", sorted(BROKEN_ACTIONS))
def test_the_coverage_information_checker_rejects_a_broken_action(case: str) -> None:
    change, expected = BROKEN_ACTIONS[case]
    action = _ig_action()
    change(action)
    problems = coverage_information_problems(action, "2.2")
    assert any(expected in p for p in problems), problems


def test_the_request_checker_rejects_changes_beyond_coverage_information() -> None:
    request = load_json(REFERENCE / "crd" / "ig-2.2.1_order-sign_servicerequest_request.json")
    order = copy.deepcopy(request["context"]["draftOrders"]["entry"][1]["resource"])
    order["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "47383"}]}
    request["context"]["draftOrders"]["entry"][1]["resource"] = copy.deepcopy(order)
    today = date.today().isoformat()
    ext = {"url": COVERAGE_INFORMATION, "extension": [
        {"url": "coverage", "valueReference": {"reference": "Coverage/COV1"}},
        {"url": "covered", "valueCode": "not-covered"},
        {"url": "billingCode", "valueCoding": {"system": "http://www.ama-assn.org/go/cpt",
                                               "code": "47383"}},
        {"url": "date", "valueDate": today},
        {"url": "coverage-assertion-id", "valueString": "a-1"}]}
    good: dict[str, Any] = {"type": "update", "description": "d",
                            "resource": {**order, "extension": [ext]}}
    assert request_problems(good, request, {today}) == []

    changed = copy.deepcopy(good)
    changed["resource"]["status"] = "active"
    other_id = copy.deepcopy(good)
    other_id["resource"]["id"] = "9999"
    yesterday = copy.deepcopy(good)
    yesterday["resource"]["extension"][0]["extension"][3]["valueDate"] = (
        date.today() - timedelta(days=2)).isoformat()
    unknown_coverage = copy.deepcopy(good)
    unknown_coverage["resource"]["extension"][0]["extension"][0]["valueReference"] = {
        "reference": "Coverage/other"}
    other_code = copy.deepcopy(good)
    other_code["resource"]["extension"][0]["extension"][2]["valueCoding"]["code"] = "47371"
    for action, expected in ((changed, "changed: ['status']"),
                             (other_id, "is not a draft order"),
                             (yesterday, "is not today"),
                             (unknown_coverage, "is not a Coverage of the request's prefetch"),
                             (other_code, "must name the ordered CPT code")):
        problems = request_problems(action, request, {today})
        assert any(expected in p for p in problems), (expected, problems)


ORDER_SELECT = [p for p in WITH_COVERAGE_INFORMATION if load_json(p)["hook"] == "order-select"]


@pytest.mark.parametrize("path", ORDER_SELECT, ids=lambda p: p.name)
def test_order_select_coverage_information_never_asks_for_clinical_or_admin_documentation(
        call: Call, path: Path) -> None:
    # CRD §hook-19: order-select (a secondary hook) may return coverage information, but SHALL
    # NOT say doc-needed clinical or admin: the order is not complete yet.
    _, response, _ = answered(call, path)
    for _, action in coverage_information(response):
        for ext in action["resource"]["extension"]:
            if ext["url"] == COVERAGE_INFORMATION:
                docs = {s.get("valueCode") for s in ext["extension"] if s["url"] == "doc-needed"}
                assert not docs & {"clinical", "admin"}, docs


def signed_again(call: Call, path: Path, change: Any = None,
                 ) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """Sign the example, then sign it again with the orders as our answer updated them (after
    ``change`` is applied to each stored coverage-information extension)."""
    request, response, today = answered(call, path)
    updated = {(a["resource"]["resourceType"], a["resource"]["id"]): a["resource"]
               for _, a in coverage_information(response)}
    for entry in request["context"]["draftOrders"]["entry"]:
        key = (entry["resource"]["resourceType"], entry["resource"].get("id"))
        entry["resource"] = copy.deepcopy(updated.get(key, entry["resource"]))
        for ext in entry["resource"].get("extension", []):
            if ext["url"] == COVERAGE_INFORMATION and change is not None:
                change(ext)
    again = call(request)
    assert again.status_code == 200, again.text
    return request, again.json(), today


@pytest.mark.parametrize("path", SIGNED[:1], ids=lambda p: p.name)
def test_re_signing_orders_that_carry_our_unchanged_assertion_sends_no_new_action(
        call: Call, path: Path) -> None:
    # CRD 2.2 §resp-29, §resp-35: no coverage-information action for an order that already
    # carries it when nothing changed (the date and assertion id of the earlier call aside).
    _, again, _ = signed_again(call, path)
    assert again.get("systemActions", []) == []


@pytest.mark.parametrize("path", SIGNED[:1], ids=lambda p: p.name)
def test_re_signing_an_order_whose_assertion_changed_replaces_our_earlier_one(
        call: Call, path: Path) -> None:
    # CRD §resp-37: the update changes nothing but coverage information; an earlier assertion
    # for the same coverage that no longer holds is replaced, not repeated.
    def stale(ext: dict[str, Any]) -> None:
        for sub in ext["extension"]:
            if sub["url"] == "covered":
                sub["valueCode"] = "covered"

    request, again, today = signed_again(call, path, stale)
    matched = matched_orders(path)
    actions = coverage_information(again)
    assert len(actions) == len(request["context"]["draftOrders"]["entry"])
    for where, action in actions:
        order = f"{action['resource']['resourceType']}/{action['resource']['id']}"
        assert request_problems(action, request, today, matched=order in matched) == [], where
