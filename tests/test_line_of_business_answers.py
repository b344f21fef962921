"""What a card offers is per line of business, from the payer file: a Medicare Advantage card
never offers a written member waiver (CMS allows no ABN-style notice in Medicare Advantage; 42 CFR
422 Subpart M), nor quotes the policy's statement of one; it offers the pre-service organization
determination. A policy that does not decide for the member's plan shows no card."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds_service.errors import ConfigurationError
from cds_service.knowledge import load_knowledge
from cds_service.payer.models import BUNDLED_PAYER_FILE, load_payer
from tests.support import EXAMPLES, call, example, write_bundled_policy

PAYER: dict[str, Any] = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())


def reasons_of(card: dict[str, Any]) -> dict[str, str]:
    return {r["code"]: r["display"] for r in card.get("overrideReasons", [])}


def test_every_card_offers_the_reasons_of_the_members_plan_type(client: TestClient) -> None:
    lines = {line.name: {r.code: r.display for r in line.override_reasons}
             for line in load_payer().lines_of_business}
    seen = set()
    for path in sorted((EXAMPLES / "requests").glob("*.json")):
        response = call(client, example(path.name))
        for card in response.json().get("cards", []) if response.status_code == 200 else []:
            plan = next((name for name in lines if f"this {name} member" in card["summary"]),
                        None)
            assert reasons_of(card) == (lines[plan] if plan else {}), (path.name, card["summary"])
            seen.add(plan)
    assert seen >= {"Medicare Advantage", "Commercial", None}


def test_a_medicare_advantage_card_offers_the_organization_determination_not_a_waiver(
        client: TestClient) -> None:
    [card] = call(client, example("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
                  ).json()["cards"]
    offered = reasons_of(card)
    assert "organization-determination-requested" in offered
    assert "member-agreed-to-pay" not in offered
    assert not any("writing" in display or "agreed" in display for display in offered.values())
    [commercial] = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                        ).json()["cards"]
    assert "member-agreed-to-pay" in reasons_of(commercial)


LIABILITY = "**Member liability:**"
WAIVER = "agreed in writing in advance"


@pytest.mark.parametrize("name", [
    "order-sign-47383-medicare-advantage-hepatocellular-carcinoma",
    "order-sign-47383-medicare-advantage-no-indication",
    "order-sign-47383-unknown-plan",  # the member might be a Medicare Advantage one
])
def test_a_card_that_may_reach_a_medicare_advantage_member_quotes_no_written_waiver(
        client: TestClient, name: str) -> None:
    [card] = call(client, example(name)).json()["cards"]
    assert LIABILITY not in card["detail"] and WAIVER not in card["detail"]


def test_a_commercial_card_quotes_the_policys_member_liability_statement(
        client: TestClient) -> None:
    [card] = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                  ).json()["cards"]
    assert LIABILITY in card["detail"] and WAIVER in card["detail"]


def test_whether_a_plan_types_cards_quote_the_liability_statement_is_the_payer_files(
        make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    def quoted_for_every_line(data: dict[str, Any]) -> None:
        for line in data["lines_of_business"]:
            line.pop("quote_member_liability", None)
    client = make_client(payer_file=payer_file(tmp_path, quoted_for_every_line))
    [card] = call(client, example("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
                  ).json()["cards"]
    assert WAIVER in card["detail"]


def test_every_override_reason_in_the_payer_file_names_its_source() -> None:
    for line in load_payer().lines_of_business:
        for reason in line.override_reasons:
            assert len(reason.source) > 40, (line.id, reason.code)
    [ma] = [line for line in load_payer().lines_of_business if line.id == "medicare-advantage"]
    assert all("422" in r.source for r in ma.override_reasons
               if r.code == "organization-determination-requested")


def payer_file(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load(BUNDLED_PAYER_FILE.read_text())
    edit(data)
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _two_displays(data: dict[str, Any]) -> None:
    data["lines_of_business"][0]["override_reasons"][1]["display"] = "Another display"


def _twice_on_a_line(data: dict[str, Any]) -> None:
    reasons = data["lines_of_business"][0]["override_reasons"]
    reasons.append(dict(reasons[0]))


def _no_source(data: dict[str, Any]) -> None:
    del data["lines_of_business"][1]["override_reasons"][0]["source"]


@pytest.mark.parametrize(("edit", "words"), [
    (_two_displays, "another display on another line of business"),
    (_twice_on_a_line, "override_reasons has a code twice"),
    (_no_source, "source"),
])
def test_override_reasons_of_the_payer_file_are_checked(
        tmp_path: Path, edit: Callable[[dict[str, Any]], None], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        load_knowledge(None, payer_file(tmp_path, edit))


def test_a_policy_naming_override_reasons_is_told_where_they_went(tmp_path: Path) -> None:
    write_bundled_policy(tmp_path / "policies", override_reasons=[
        {"code": "member-agreed-to-pay", "display": "Member agreed in writing"}])
    with pytest.raises(ConfigurationError, match=r"lines_of_business\[\]\.override_reasons"):
        load_knowledge(tmp_path / "policies", None)


def test_a_plan_the_policy_does_not_decide_gets_no_card_quoting_the_others(
        make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    bundled = yaml.safe_load(write_bundled_policy(policies).read_text())
    write_bundled_policy(policies, determinations={
        "commercial": bundled["determinations"]["commercial"]})
    client = make_client(policy_dir=policies)
    answer = call(client, example(
        "order-sign-47383-medicare-advantage-hepatocellular-carcinoma")).json()
    assert answer["cards"] == []
    [action] = answer["systemActions"]
    [info] = [e for e in action["resource"]["extension"] if e["url"].endswith(
        "ext-coverage-information")]
    subs = {s["url"]: s for s in info["extension"]}
    assert subs["covered"]["valueCode"] == "indeterminate"
    assert subs["reason"]["valueCodeableConcept"]["text"] == " ".join(
        PAYER["undecided_plan_reason"].split())
    statement = bundled["determinations"]["commercial"]["statement"]["quote"]
    assert " ".join(statement.split()) not in str(answer)
    # The Commercial member still gets the policy's card.
    assert call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                ).json()["cards"]
