"""The card preview's scenarios (pure) and the cards the hook-answering code gives them."""

from __future__ import annotations

import asyncio

import pytest

from cds_service.evaluate import Evaluator
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.payer import coverage as cov
from cds_service.payer.models import PayerConfig
from cds_service.policy.models import Policy
from cds_service.preview import (
    NO_COVERAGE,
    NO_INDICATION,
    UNKNOWN_PLAN,
    Preview,
    choices,
    matching,
    preview,
    scenarios,
)

POLICY = "cryosurgical-ablation-liver-tumors"


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(None, None)


def policy_of(knowledge: Knowledge) -> Policy:
    loaded = knowledge.policies.get(POLICY)
    assert loaded is not None
    return loaded.policy


def test_one_scenario_per_code_member_and_indication(knowledge: Knowledge) -> None:
    policy = policy_of(knowledge)
    found = scenarios(policy, knowledge.payer)
    # No "no active coverage" member: by default such a call is refused (400), not carded.
    members = [line.name for line in knowledge.payer.lines_of_business] + [UNKNOWN_PLAN]
    indications = [i.name for i in policy.indications] + [NO_INDICATION]
    assert [(s.code.code, s.member, s.indication) for s in found] == [
        (c.code, m, i) for c in policy.codes for m in members for i in indications]
    assert len(found) == 3 * 3 * 4


def test_a_payer_file_asking_for_the_no_coverage_card_gets_it_previewed(
        knowledge: Knowledge) -> None:
    payer = knowledge.payer.model_copy(update={"member_without_coverage": "card"})
    found = scenarios(policy_of(knowledge), payer)
    assert len(found) == 3 * 4 * 4
    assert all(s.request["prefetch"]["coverage"]["entry"] == []
               for s in found if s.member == NO_COVERAGE)
    mine = Knowledge(knowledge.policies, payer)
    evaluator = Evaluator(mine, public_base_url="https://cds.payer.example")
    previews = asyncio.run(preview(evaluator, policy_of(mine), payer))
    assert {p.cards[0]["indicator"] for p in previews if p.scenario.member == NO_COVERAGE} == {
        "info"}


def test_each_line_of_business_gets_a_coverage_the_payer_file_maps_to_it(
        knowledge: Knowledge) -> None:
    by_member = {s.member: s.request["prefetch"]["coverage"]["entry"]
                 for s in scenarios(policy_of(knowledge), knowledge.payer)}
    for line in knowledge.payer.lines_of_business:
        [entry] = by_member[line.name]
        assert cov.line_of_business(knowledge.payer, entry["resource"]).line == line
    [unknown] = by_member[UNKNOWN_PLAN]
    assert cov.line_of_business(knowledge.payer, unknown["resource"]).line is None


def test_indication_scenarios_carry_a_code_from_every_diagnosis_group(
        knowledge: Knowledge) -> None:
    policy = policy_of(knowledge)
    for s in scenarios(policy, knowledge.payer):
        order = s.request["context"]["draftOrders"]["entry"][0]["resource"]
        reasons = [(c["system"], c["code"]) for rc in order.get("reasonCode", [])
                   for c in rc["coding"]]
        expected = [i.name for i in policy.indications_for(reasons)]
        assert expected == ([] if s.indication == NO_INDICATION else [s.indication])


def test_every_scenario_gets_the_card_the_hook_endpoint_gives(knowledge: Knowledge) -> None:
    evaluator = Evaluator(knowledge, public_base_url="https://cds.payer.example")
    previews = asyncio.run(preview(evaluator, policy_of(knowledge), knowledge.payer))
    assert len(previews) == 36
    for item in previews:
        [card] = item.cards
        s = item.scenario
        assert f"CPT {s.code.code}" in card["summary"]
        if s.member in (UNKNOWN_PLAN, NO_COVERAGE):
            assert card["indicator"] == "info"
        else:
            assert card["indicator"] == "warning"
            assert f"this {s.member} member" in card["summary"]
        if s.indication != NO_INDICATION:
            assert f"**Evidence: {s.indication}** (the order's reason" in card["detail"]
        else:
            assert "the order names no reason" in card["detail"]
        assert card["suggestions"] and card["links"]
        # Override reasons fit a plan type: none where it is not known.
        assert bool(card.get("overrideReasons")) == (s.member not in (UNKNOWN_PLAN, NO_COVERAGE))


def test_a_payer_with_identifiers_and_a_class_only_line_still_gets_every_card(
        knowledge: Knowledge) -> None:
    payer = PayerConfig.model_validate({
        "schema": 1, "name": "Example payer", "unknown_plan_reason": "Plan unknown.",
        "undecided_plan_reason": "Not decided for this plan.",
        "unreadable_order_reason": "Order unreadable.",
        "unmatched_orders": {"covered": "indeterminate", "reason": "No policy applies."},
        "identifiers": [{"system": "http://hl7.org/fhir/sid/us-naic", "value": "00000"}],
        "lines_of_business": [
            {"id": "medicare-advantage", "name": "Medicare Advantage",
             "coverage_class": [{"type": "plan", "value": "MA-GOLD"}]},
            {"id": "commercial", "name": "Commercial",
             "coverage_type": [{"system": "https://nahdo.org/sopt", "code": "5",
                                "descendants": True}]}]})
    mine = Knowledge(knowledge.policies, payer)
    evaluator = Evaluator(mine, public_base_url="https://cds.payer.example")
    previews = asyncio.run(preview(evaluator, policy_of(mine), payer))
    assert len(previews) == 36
    warnings = {p.scenario.member for p in previews if p.cards[0]["indicator"] == "warning"}
    assert warnings == {"Medicare Advantage", "Commercial"}


def test_an_indication_whose_groups_share_a_code_gets_that_code_once(
        knowledge: Knowledge) -> None:
    # Neuroendocrine liver metastases: (C7B.02 or C7B.8) and (C7B.02 or C78.7 ...).
    net = next(s for s in scenarios(policy_of(knowledge), knowledge.payer)
               if s.indication == "Neuroendocrine liver metastases")
    order = net.request["context"]["draftOrders"]["entry"][0]["resource"]
    assert [c["coding"][0]["code"] for c in order["reasonCode"]] == ["C7B.02"]


def test_choices_and_matching_use_the_scenarios_own_values(knowledge: Knowledge) -> None:
    found = scenarios(policy_of(knowledge), knowledge.payer)
    options = choices(found)
    assert options["member"] == [line.name for line in knowledge.payer.lines_of_business] + [
        UNKNOWN_PLAN]
    assert options["code"] == ["CPT 47371", "CPT 47381", "CPT 47383"]
    assert options["indication"][-1] == NO_INDICATION
    previews = [Preview(s, []) for s in found]
    assert matching(previews, {}) == previews
    assert [p.scenario for p in matching(previews, {"code": "CPT 47381",
                                                    "member": UNKNOWN_PLAN})] == [
        s for s in found if s.code.code == "47381" and s.member == UNKNOWN_PLAN]
