"""Real hook requests from the reference material (Da Vinci CRD IG 2.1.0/2.2.1 examples, the
Inferno CRD test kit, the CRD reference implementation, the CDS Hooks library's order-select and
order-sign contexts) are answered with 200 and a conforming response; none of them orders liver
cryoablation, so none gets a card, and on order-sign (a CRD primary hook) every draft order gets
exactly one coverage-information action with the payer file's assertion for unmatched orders
(CRD 2.2 §hook-16, §resp-26). One of them, given a CPT 47383 order, gets our card and coverage
information, with the client configuration it carries honoured."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from .cds_hooks import (
    RESPONSE_MODEL,
    RESPONSE_OVERRIDES,
    response_problems,
)
from .conftest import Call
from .crd import (
    CPT,
    answer_problems,
    coverage_actions,
    coverage_information_problems,
    request_problems,
)
from .data import (
    EHR_COVERAGE_ID,
    EXAMPLES,
    REFERENCE,
    library_contexts,
    library_request,
    load_json,
    reference_requests,
)
from .logical_model import LogicalModels

# The order-select and order-sign requests; appointment-book and order-dispatch (Inferno's) are
# walked by test_inferno_crd_server_suite.py, as that suite sends them.
REQUESTS = [pytest.param(body, id=p.name) for p in reference_requests()
            if "draftOrders" in (body := load_json(p))["context"]]
REQUESTS += [pytest.param(library_request(p), id=p.name) for p in library_contexts()]
IG_REQUEST = REFERENCE / "crd" / "ig-2.2.1_order-sign_servicerequest_request.json"


def conforming(call: Call, models: LogicalModels, request: dict[str, Any]) -> dict[str, Any]:
    """Our answer, after checking it is a 200 that passes the model and the 2.0 rules."""
    response = call(request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert models.check(body, RESPONSE_MODEL, RESPONSE_OVERRIDES) == []
    assert response_problems(body, request["hook"]) == []
    return body


def today() -> set[str]:
    return {date.today().isoformat()}


def coverage_info_wanted(request: dict[str, Any]) -> bool:
    config = (request.get("extension") or {}).get("davinci-crd.configuration") or {}
    return config.get("coverage-info", config.get("coverage", True)) is not False


def coverage_obtainable(request: dict[str, Any]) -> bool:
    """The request prefetches a Coverage, or lets the service query the EHR for it."""
    prefetch = request.get("prefetch") or {}
    return "coverage" in prefetch or bool(request.get("fhirAuthorization"))


@pytest.mark.parametrize("request_body", [r for r in REQUESTS
                                          if coverage_obtainable(r.values[0])])
def test_reference_request_gets_no_card_and_coverage_information_for_every_primary_order(
        call: Call, models: LogicalModels, request_body: dict[str, Any]) -> None:
    body = conforming(call, models, request_body)
    assert body["cards"] == []
    orders = request_body["context"]["draftOrders"]["entry"]
    if request_body["hook"] != "order-sign" or not coverage_info_wanted(request_body):
        assert body.get("systemActions", []) == []
        return
    actions = list(coverage_actions(body))
    assert len(actions) == len(body["systemActions"]) == len(orders)
    assert [(a["resource"]["resourceType"], a["resource"]["id"]) for _, a in actions] == [
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in orders]
    for _, action in actions:
        # An order the client sent as invalid R4 (Inferno's NutritionOrder has no intent) is
        # echoed as it came (§resp-37): only problems it did not already have are ours.
        assert answer_problems(action, request_body) == []
        assert request_problems(action, request_body, today(), matched=False,
                                queried={f"Coverage/{EHR_COVERAGE_ID}"}) == []


@pytest.mark.parametrize("request_body", [
    r for r in REQUESTS if not coverage_obtainable(r.values[0])])
def test_without_coverage_data_a_primary_hook_gets_412_a_secondary_hook_an_answer(
        call: Call, request_body: dict[str, Any]) -> None:
    # No prefetched Coverage and no FHIR server to ask. order-sign owes coverage information on
    # every call unless reporting an error (CRD 2.2 §hook-16), and it cannot cite a Coverage it
    # never saw: the 412 of "the requested prefetch was not provided and the CRD server was
    # unable to invoke the queries itself" (2.2 foundation.md, §found-32). order-select owes none.
    response = call(request_body)
    if request_body["hook"] == "order-sign":
        assert response.status_code == 412, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "coverage" in response.text
    else:
        assert response.status_code == 200, response.text
        assert response.json()["cards"] == []


def with_cryoablation(request: dict[str, Any], *indexes: int) -> dict[str, Any]:
    """The request with the draft orders at ``indexes`` recoded as CPT 47383 (percutaneous
    cryoablation of liver tumours), keeping everything else."""
    request = copy.deepcopy(request)
    for i in indexes:
        order = request["context"]["draftOrders"]["entry"][i]["resource"]
        order["code"] = {"coding": [{"system": CPT, "code": "47383"}]}
    return request


def configured(request: dict[str, Any], **options: Any) -> dict[str, Any]:
    request = copy.deepcopy(request)
    request["extension"]["davinci-crd.configuration"].update(options)
    return request


def with_sopt_coverage(request: dict[str, Any], code: str) -> dict[str, Any]:
    """The request with its Coverage typed by the Source of Payment Typology, as US Core asks."""
    request = copy.deepcopy(request)
    for entry in request["prefetch"]["coverage"]["entry"]:
        entry["resource"]["type"] = {"coding": [{"system": "https://nahdo.org/sopt",
                                                 "code": code}]}
    return request


def test_ig_order_sign_request_for_cpt_47383_gets_a_card_and_coverage_information(
        call: Call, models: LogicalModels) -> None:
    # order-sign is a CRD primary hook: an order the payer evaluates against the member's active
    # Coverage gets a coverage-information systemAction (§hook-16, §resp-26).
    request = with_sopt_coverage(with_cryoablation(load_json(IG_REQUEST), 1), "612")
    body = conforming(call, models, request)
    assert [c["extension"]["davinci-crd.associated-resource"] for c in body["cards"]] == [
        [{"reference": "ServiceRequest/2468"}]]
    actions = list(coverage_actions(body))
    # The mammography order (no policy) gets the payer's assertion; the cryoablation the policy's.
    assert [a["resource"]["id"] for _, a in actions] == ["1357", "2468"], body["systemActions"]
    for _, action in actions:
        assert coverage_information_problems(action, "2.2") == []
        matched = action["resource"]["id"] == "2468"
        assert request_problems(action, request, today(), matched=matched) == []


def test_ig_order_sign_request_with_unmapped_plan_type_gets_an_info_card_and_indeterminate(
        call: Call, models: LogicalModels) -> None:
    # The IG's Coverage COV1 is typed only v3-ActCode PPO, which our payer file does not map to a
    # line of business: the clinician gets an info card with what the policy says for each
    # line, and the order gets CRD 2.2 `indeterminate` with the payer file's reason (q9), never
    # silence (§resp-26).
    request = with_cryoablation(load_json(IG_REQUEST), 1)
    body = conforming(call, models, request)
    assert [c["indicator"] for c in body["cards"]] == ["info"]
    actions = dict((a["resource"]["id"], a) for _, a in coverage_actions(body))
    assert sorted(actions) == ["1357", "2468"]
    info = {e["url"]: e for e in actions["2468"]["resource"]["extension"][-1]["extension"]}
    assert info["covered"]["valueCode"] == "indeterminate"
    assert "plan type could not be determined" in info["reason"]["valueCodeableConcept"]["text"]
    for action in actions.values():
        assert coverage_information_problems(action, "2.2") == []
        matched = action["resource"]["id"] == "2468"
        assert request_problems(action, request, today(), matched=matched) == []


def test_ig_order_sign_request_configuration_is_honoured(
        call: Call, models: LogicalModels) -> None:
    request = with_cryoablation(load_json(IG_REQUEST), 0, 1)
    config = request["extension"]["davinci-crd.configuration"]
    assert config == {"cost": False, "claim": False, "appropriate-use": False, "max-cards": 5}
    body = conforming(call, models, request)
    assert 1 <= len(body["cards"]) <= config["max-cards"]
    disabled = {code for code, value in config.items() if value is False}
    assert not {c["source"]["topic"]["code"] for c in body["cards"]} & disabled


@pytest.mark.parametrize("max_cards", [0, 1])
def test_max_cards_limits_the_cards_returned(
        call: Call, models: LogicalModels, max_cards: int) -> None:
    request = with_cryoablation(load_json(IG_REQUEST), 0, 1)
    assert len(conforming(call, models, request)["cards"]) == 2
    body = conforming(call, models, configured(request, **{"max-cards": max_cards}))
    assert len(body["cards"]) == max_cards


def test_a_card_type_set_to_false_is_not_returned(call: Call, models: LogicalModels) -> None:
    request = with_cryoablation(load_json(IG_REQUEST), 0, 1)
    topics = {c["source"]["topic"]["code"] for c in conforming(call, models, request)["cards"]}
    assert topics
    body = conforming(call, models, configured(request, **dict.fromkeys(topics, False)))
    assert body["cards"] == []


def test_coverage_info_false_suppresses_coverage_information_actions(
        call: Call, models: LogicalModels) -> None:
    request = load_json(EXAMPLES / "requests" / "order-sign-two-cryoablation-orders.json")
    assert list(coverage_actions(conforming(call, models, request)))
    request["extension"] = {"davinci-crd.configuration": {"coverage-info": False}}
    body = conforming(call, models, request)
    assert body["cards"]
    assert body["systemActions"] == []

