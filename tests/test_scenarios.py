"""Every scenario in fhir_examples/scenarios.yaml answered as its manifest says, through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.support import EXAMPLES, call, example

SCENARIOS = yaml.safe_load((EXAMPLES / "scenarios.yaml").read_text())
LINE_NAMES = {"medicare-advantage": "Medicare Advantage", "commercial": "Commercial"}
PHRASES = {"medicare-advantage": "Not covered", "commercial": "Not medically necessary"}
ALL_INDICATIONS = ["hepatocellular-carcinoma", "neuroendocrine-liver-metastases",
                   "colorectal-liver-metastases"]


def test_every_request_file_has_a_scenario() -> None:
    listed = {s["request"] for s in SCENARIOS}
    on_disk = {f"requests/{p.name}" for p in (EXAMPLES / "requests").glob("*.json")}
    assert listed == on_disk


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["request"][9:-5] for s in SCENARIOS])
def test_scenario_is_answered_as_expected(client: TestClient, scenario: dict[str, Any]) -> None:
    body = example(scenario["request"].removeprefix("requests/"))
    response = call(client, body)
    expect = scenario["expect"]
    if "status" in expect:
        # A call the service refuses: an OperationOutcome saying which case it is.
        assert response.status_code == expect["status"], response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert expect["outcome_mentions"] in outcome["issue"][0]["diagnostics"]
        return
    assert response.status_code == 200, response.text
    answer = response.json()

    cards = answer["cards"]
    assert len(cards) == len(expect["cards"])
    for card, want in zip(cards, expect["cards"], strict=True):
        associated = card["extension"]["davinci-crd.associated-resource"]
        assert associated == [{"reference": want["order"]}] + (
            [{"reference": want["appointment"]}] if "appointment" in want else [])
        assert card["indicator"] == want["indicator"]
        line = want["line_of_business"]
        if line:
            assert card["summary"].startswith(f"{PHRASES[line]} for this {LINE_NAMES[line]} member")
        else:
            assert "not covered for Medicare Advantage" in card["summary"]
            assert "not medically necessary for Commercial" in card["summary"]
        evidence_links = {link["url"].split("#evidence-")[1] for link in card["links"]
                          if "#evidence-" in link["url"]}
        assert evidence_links == set(want["indications"])
        if not want["indications"]:
            assert "no indication on the order" in card["detail"]
        removes = want.get("removes", want["order"])
        if removes is None:
            assert "suggestions" not in card
        else:
            assert card["suggestions"][0]["actions"][0] == {
                "type": "delete", "resourceId": removes,
                "description": card["suggestions"][0]["actions"][0]["description"]}

    actions = answer.get("systemActions")
    if body["hook"] in ("order-sign", "order-dispatch", "appointment-book"):
        assert actions is not None
    actions = actions or []
    assert len(actions) == len(expect["coverage_information"])
    for action, want in zip(actions, expect["coverage_information"], strict=True):
        resource = action["resource"]
        assert f"{resource['resourceType']}/{resource['id']}" == want["order"]
        info = {e["url"]: e for e in resource["extension"][-1]["extension"]}
        assert info["coverage"]["valueReference"]["reference"] == want["coverage"]
        assert info["covered"]["valueCode"] == want.get("covered", "not-covered")
        if want.get("billing_code"):
            assert info["billingCode"]["valueCoding"]["code"] == want["billing_code"]
        else:
            assert "billingCode" not in info
