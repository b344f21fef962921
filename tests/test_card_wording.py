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


# -- what the card says about the order's reasons (issue 9): each case pinned ------------------

def evidence_heading(card: dict[str, object]) -> str:
    detail = str(card["detail"])
    return next(block for block in detail.split("\n\n") if block.startswith("**Evidence"))


def test_order_naming_no_reason_is_told_so(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-medicare-advantage-no-indication")
                ).json()["cards"][0]
    assert evidence_heading(card) == (
        "**Evidence** (the order names no reason; the populations the policy reviewed):")


def test_reasons_outside_the_reviewed_populations_are_quoted_not_denied(
        client: TestClient) -> None:
    card = call(client, example("order-sign-47383-commercial-reason-not-reviewed-by-the-policy")
                ).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence** (the order\'s reason "Colon cancer" is not among the populations the '
        "policy reviewed):")
    assert "Hepatocellular carcinoma: \u201cFor individuals who have unresectable primary" \
        in card["detail"]


def test_several_unreviewed_reasons_are_all_quoted(client: TestClient) -> None:
    body = example("order-sign-47383-commercial-reason-not-reviewed-by-the-policy")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["reasonCode"].append({"coding": [{"system": "http://snomed.info/sct",
                                            "code": "363351006"}]})
    order["reasonCode"].append({"text": "Pain *right* upper quadrant"})
    card = call(client, body).json()["cards"][0]
    assert evidence_heading(card) == (
        '**Evidence** (the order\'s reasons "Colon cancer", "SNOMED CT 363351006", '
        '"Pain \\*right\\* upper quadrant" are not among the populations the policy reviewed):')


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
        '**Evidence** (the order\'s reason "Condition/not-in-this-request" is not among the '
        "populations the policy reviewed):")
