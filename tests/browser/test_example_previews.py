"""The card preview of the example policies (issue 17) in a real browser: every answer a policy
gives is shown, each scenario with the coded coverage information it records, cards rendered
(Instructions cards text only), nothing wider than an EHR side panel."""

from __future__ import annotations

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from cds_service.knowledge import load_knowledge
from cds_service.preview import scenarios
from tests.support import EXAMPLE_PAYER, EXAMPLE_POLICIES

pytestmark = pytest.mark.browser

KNOWLEDGE = load_knowledge(EXAMPLE_POLICIES, EXAMPLE_PAYER)
POLICIES = sorted(lp.policy.id for lp in KNOWLEDGE.policies.all())


@pytest.mark.parametrize("width", [420, 1400])
@pytest.mark.parametrize("policy", POLICIES)
def test_example_preview_shows_every_answer_with_its_coverage_information(
        browser: webdriver.Chrome, examples_url: str, policy: str, width: int) -> None:
    loaded = KNOWLEDGE.policies.get(policy)
    assert loaded is not None
    browser.set_window_size(width, 900)
    browser.get(f"{examples_url}/policies/{policy}/preview")
    sections = browser.find_elements(By.CSS_SELECTOR, "section.scenario")
    assert len(sections) == len(scenarios(loaded.policy, KNOWLEDGE.payer))
    for section in sections:
        # Every scenario records coverage information, shown with its codes.
        info = section.find_element(By.CSS_SELECTOR, ".coverage-info").text
        assert "covered " in info
        for card in section.find_elements(By.CSS_SELECTOR, "article.card"):
            text = card.text
            assert card.find_element(By.CSS_SELECTOR, ".summary").text
            assert "**" not in text and "\\" not in text
            if "Covered for this" in text:  # an Instructions card: text only
                assert not card.find_elements(By.CSS_SELECTOR, "ul.links, .suggestions")
                assert "pa-needed auth-needed" in info or "doc-needed" in info
            if "Prior authorization needed" in text:
                assert "pa-needed auth-needed" in info
    width_ok = browser.execute_script(
        "const e = document.scrollingElement; return e.scrollWidth <= e.clientWidth")
    assert width_ok


def test_the_example_previews_show_every_covered_and_pa_value(
        browser: webdriver.Chrome, examples_url: str) -> None:
    shown = ""
    for policy in POLICIES:
        browser.get(f"{examples_url}/policies/{policy}/preview")
        shown += " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".coverage-info"))
    for code in ("covered covered", "covered conditional", "pa-needed auth-needed",
                 "pa-needed no-auth", "pa-needed conditional", "doc-needed clinical",
                 "info-needed OTH", "info-needed OTH, location"):
        assert code in shown, code
