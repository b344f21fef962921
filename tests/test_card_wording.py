"""A compliance reviewer finds every sentence of substance of every card in the payer's document."""

from __future__ import annotations

import re

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.support import EXAMPLES, POLICY_DOCUMENT, call, example, require_shared

require_shared(POLICY_DOCUMENT)
DOCUMENT = re.sub(r"\s+", " ", POLICY_DOCUMENT.read_text())
REQUESTS = [s["request"].removeprefix("requests/")
            for s in yaml.safe_load((EXAMPLES / "scenarios.yaml").read_text())
            if "status" not in s["expect"] and "policy_dir" not in s]


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("name", REQUESTS)
def test_every_quoted_passage_of_a_card_is_verbatim_in_the_policy(
        client: TestClient, name: str) -> None:
    for card in call(client, example(name)).json()["cards"]:
        passages = [unescape(line[2:]) for line in card["detail"].split("\n")
                    if line.startswith("> ")]
        inline = re.findall(r"\u201c(.+?)\u201d", unescape(card["detail"]))
        assert passages or inline
        for text in passages + inline:
            if text.startswith(("Cryosurgical Ablation", "Cryosurgical ablation of liver")):
                continue  # the policy's title, not a statement
            assert text in DOCUMENT, text


def test_card_states_the_policy_statement_for_the_members_line_first(client: TestClient) -> None:
    card = call(client, example("order-sign-47381-commercial-neuroendocrine-liver-metastases")
                ).json()["cards"][0]
    blocks = card["detail"].split("\n\n")
    assert blocks[0].startswith("> Cryosurgical ablation of either primary or metastatic")
    assert "is not medically necessary as the evidence is insufficient" in blocks[0]
    assert blocks[1].startswith("**Evidence: Neuroendocrine liver metastases**")
    assert blocks[2].startswith("**Member liability:** \u201cIf you provide services")
    assert "agreed in writing in advance" in blocks[2]
    # One order in the call: the summary names it; no "Order:" line, no prior-authorization
    # filler, no coverage boilerplate (both are on the policy page, one click away).
    assert len(blocks) == 3
    assert "Prior authorization" not in card["detail"]


def test_no_sentence_of_the_policy_is_said_twice(client: TestClient) -> None:
    for name in REQUESTS:
        for card in call(client, example(name)).json()["cards"]:
            detail = unescape(card["detail"]).lower()
            sentence = "the evidence is insufficient to determine the effects of the technology"
            assert detail.count(sentence) <= 1, name
            assert card["summary"].lower() not in detail


def test_each_card_of_a_call_with_several_matching_orders_names_its_order(
        client: TestClient) -> None:
    cards = call(client, example("order-sign-two-cryoablation-orders")).json()["cards"]
    assert len(cards) == 2
    names = [card["detail"].split("\n\n")[-1] for card in cards]
    assert all(name.startswith("**Order:** ") for name in names)
    assert names[0] != names[1]


def test_summary_is_short_and_names_procedure_and_determination(client: TestClient) -> None:
    for name in REQUESTS:
        for card in call(client, example(name)).json()["cards"]:
            assert len(card["summary"]) < 140
            assert "cryosurgical ablation of liver tumors (cpt 473" in card["summary"].lower()


# -- what the card says about the order's reasons (issue 9): each case pinned ------------------

def evidence_heading(card: dict[str, object]) -> str:
    detail = str(card["detail"])
    return next(block for block in detail.split("\n\n") if block.startswith("**Evidence"))


def test_order_naming_no_reason_is_told_so(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-medicare-advantage-no-indication")
                ).json()["cards"][0]
    assert evidence_heading(card) == (
        "**Evidence** (the order names no reason to match to the populations the policy "
        "reviewed)")
    assert card["links"][-1]["label"] == "Evidence summaries"
    assert card["links"][-1]["url"].endswith(
        "/policies/cryosurgical-ablation-liver-tumors#evidence")


def test_reasons_outside_the_reviewed_populations_are_quoted_not_denied(
        client: TestClient) -> None:
    card = call(client, example("order-sign-47383-commercial-reason-not-reviewed-by-the-policy")
                ).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence** (the order\'s reason "Colon cancer" could not be matched to the populations '
        "the policy reviewed)")
    assert "not among" not in card["detail"]


def test_several_unreviewed_reasons_are_all_quoted(client: TestClient) -> None:
    body = example("order-sign-47383-commercial-reason-not-reviewed-by-the-policy")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["reasonCode"].append({"coding": [{"system": "http://snomed.info/sct",
                                            "code": "363351006"}]})
    order["reasonCode"].append({"text": "Pain *right* upper quadrant"})
    card = call(client, body).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence** (the order\'s reasons "Colon cancer", "SNOMED CT 363351006", '
        '"Pain \\*right\\* upper quadrant" could not be matched to the populations the policy '
        "reviewed)")


def test_snomed_matched_indication_quotes_the_ehrs_words_for_it(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma-snomed")
                ).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence: Hepatocellular carcinoma** (the order\'s reason "Liver cell carcinoma '
        '(disorder)")')


def test_indication_needing_two_diagnoses_quotes_both_reasons(client: TestClient) -> None:
    card = call(client, example(
        "order-sign-47383-medicare-advantage-colorectal-liver-metastases-snomed-and-icd10cm")
                ).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence: Colorectal liver metastases** (the order\'s reasons "Liver metastases", '
        '"Sigmoid colon cancer")')


def test_reason_found_through_reason_reference_counts_as_a_reason(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-commercial-indication-by-contained-condition")
                ).json()["cards"][0]
    assert evidence_heading(card).startswith(
        "**Evidence: Hepatocellular carcinoma** (the order's reason \"")


def test_card_type_carries_its_display(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-medicare-advantage-no-indication")
                ).json()["cards"][0]
    assert card["source"]["topic"] == {
        "system": "http://terminology.hl7.org/CodeSystem/cdshooks-card-type",
        "code": "guideline", "display": "Guideline"}


def test_unreadable_reason_reference_is_a_reason_not_an_absence(client: TestClient) -> None:
    body = example("order-sign-47383-medicare-advantage-no-indication")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["reasonReference"] = [{"reference": "Condition/not-in-this-request"}]
    card = call(client, body).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence** (the order\'s reason "Condition/not-in-this-request" could not be matched '
        "to the populations the policy reviewed)")
