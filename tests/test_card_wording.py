"""A compliance reviewer finds every sentence of substance of every card in the payer's document."""

from __future__ import annotations

import re

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.support import EXAMPLES, POLICY_DOCUMENT, call, example

DOCUMENT = re.sub(r"\s+", " ", POLICY_DOCUMENT.read_text())
REQUESTS = [s["request"].removeprefix("requests/")
            for s in yaml.safe_load((EXAMPLES / "scenarios.yaml").read_text())
            if "status" not in s["expect"]]


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("name", REQUESTS)
def test_every_quoted_passage_of_a_card_is_verbatim_in_the_policy(
        client: TestClient, name: str) -> None:
    for card in call(client, example(name)).json()["cards"]:
        passages = [unescape(line[2:]) for line in card["detail"].split("\n")
                    if line.startswith("> ")]
        populations = re.findall(r"\u201c(.+?)\u201d", unescape(card["detail"]))
        assert passages
        for text in passages + populations:
            if text.startswith(("Cryosurgical Ablation", "Cryosurgical ablation of liver")):
                continue  # the policy's title, not a statement
            assert text in DOCUMENT, text


def test_card_states_the_policy_statement_for_the_members_line_first(client: TestClient) -> None:
    card = call(client, example("order-sign-47381-commercial-neuroendocrine-liver-metastases")
                ).json()["cards"][0]
    first_quote = next(line for line in card["detail"].split("\n") if line.startswith("> "))
    assert "is not medically necessary as the evidence is insufficient" in first_quote
    assert card["detail"].index("Evidence: Neuroendocrine liver metastases") < \
        card["detail"].index("Member liability")
    assert "agreed in writing in advance" in card["detail"]
    assert "CPT 47381 Ablation, open, 1 or more liver tumor(s); cryosurgical" in card["detail"]


def test_summary_is_short_and_names_procedure_and_determination(client: TestClient) -> None:
    for name in REQUESTS:
        for card in call(client, example(name)).json()["cards"]:
            assert len(card["summary"]) < 140
            assert "cryosurgical ablation of liver tumors (cpt 473" in card["summary"].lower()
