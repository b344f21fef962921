"""The policy pages and the card preview in a real browser, at the width of an EHR side panel
(420 px) and of a desktop (1400 px), checked as a person would: nothing scrolls sideways, tables
are headed, every card of the preview is there with its Markdown rendered."""

from __future__ import annotations

from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from cds_service.api.openapi import ENDPOINTS
from cds_service.knowledge import load_knowledge
from cds_service.preview import scenarios
from tests.support import ROOT

pytestmark = pytest.mark.browser

POLICY = "cryosurgical-ablation-liver-tumors"
POLICIES = [POLICY, "test-only-thermoplasty"]
FILTERED = f"/policies/{POLICY}/preview?member=Commercial&code=CPT+47383&indication="
PAGES = ["/policies", *(f"/policies/{p}{page}" for p in POLICIES for page in ("", "/preview")),
         FILTERED]
WIDTHS = [420, 1400]


def open_at(browser: webdriver.Chrome, url: str, width: int) -> None:
    browser.set_window_size(width, 900)
    browser.get(url)
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.execute_script("return window.innerWidth") == width


def js(browser: webdriver.Chrome, script: str) -> Any:
    return browser.execute_script(script)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_nothing_overflows_sideways(browser: webdriver.Chrome, base_url: str, path: str,
                                    width: int) -> None:
    open_at(browser, base_url + path, width)
    scroll_width, client_width = js(browser, "const e = document.scrollingElement; "
                                             "return [e.scrollWidth, e.clientWidth]")
    assert scroll_width <= client_width
    # No single element reaches past the right edge either (a clipped table or <pre> would).
    wide = js(browser, """
        const w = document.documentElement.clientWidth;
        return [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > w + 1)
            .map(e => e.tagName + '.' + e.className).slice(0, 5);""")
    assert wide == []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", [p for p in PAGES if "/preview" not in p])
def test_every_table_has_header_cells(browser: webdriver.Chrome, base_url: str, path: str,
                                      width: int) -> None:
    open_at(browser, base_url + path, width)
    tables = browser.find_elements(By.CSS_SELECTOR, "main table")
    assert tables
    for table in tables:
        headers = table.find_elements(By.CSS_SELECTOR, "thead th")
        assert headers and all(h.text.strip() for h in headers)


@pytest.mark.parametrize("width", WIDTHS)
def test_policy_page_source_document_wraps(browser: webdriver.Chrome, base_url: str,
                                           width: int) -> None:
    open_at(browser, f"{base_url}/policies/{POLICY}", width)
    document = browser.find_element(By.CSS_SELECTOR, "#source + pre")
    assert "Cryosurgical" in document.text
    assert js(browser, "const p = document.querySelector('#source + pre'); "
                       "return p.scrollWidth <= p.clientWidth")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("policy", POLICIES)
def test_preview_shows_every_card_with_its_markdown_rendered(
        browser: webdriver.Chrome, base_url: str, policy: str, width: int) -> None:
    knowledge = load_knowledge(ROOT / "tests" / "data" / "policies", None)
    loaded = knowledge.policies.get(policy)
    assert loaded is not None
    every = scenarios(loaded.policy, knowledge.payer)
    # A member of a plan type the policy does not decide gets no card.
    undecided = {line.name for line in knowledge.payer.lines_of_business
                 if line.id not in loaded.policy.determinations}
    reasons = {line.name: len(line.override_reasons)
               for line in knowledge.payer.lines_of_business}
    open_at(browser, f"{base_url}/policies/{policy}/preview", width)
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.scenario")) == len(every)
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert len(cards) == len([s for s in every if s.member not in undecided])
    for card in cards:
        text = card.text
        assert "**" not in text and "\\" not in text and "> " not in text
        # A known plan's card opens with the policy statement, quoted; the others say why not.
        assert bool(card.find_elements(By.CSS_SELECTOR, ".detail blockquote")) == (
            "warning" in card.get_attribute("class"))
        if loaded.policy.indications or loaded.policy.member_liability:
            assert card.find_elements(By.CSS_SELECTOR, ".detail strong")
        assert card.find_element(By.CSS_SELECTOR, ".summary").text
        assert card.find_element(By.CSS_SELECTOR, ".suggestions button").text.startswith(
            "Remove the")
        summary = card.find_element(By.CSS_SELECTOR, ".summary").text
        plan = next((name for name in reasons if f"this {name} member" in summary), None)
        assert len(card.find_elements(By.CSS_SELECTOR, "ul.override li")) == (
            reasons[plan] if plan else 0)
        assert card.find_elements(By.CSS_SELECTOR, "ul.links a[href]")
    # Indicator colours: a warning card's stripe differs from an info card's.
    colours = js(browser, """return ['warning', 'info'].map(k => getComputedStyle(
        document.querySelector('article.card.' + k)).borderLeftColor);""")
    assert colours[0] != colours[1]


@pytest.mark.parametrize("width", WIDTHS)
def test_preview_filter_form_narrows_the_page_without_any_script(
        browser: webdriver.Chrome, base_url: str, width: int) -> None:
    open_at(browser, f"{base_url}/policies/{POLICY}/preview", width)
    assert browser.find_elements(By.TAG_NAME, "script") == []
    every = len(browser.find_elements(By.CSS_SELECTOR, "section.scenario"))
    full_height = js(browser, "return document.documentElement.scrollHeight")
    Select(browser.find_element(By.NAME, "member")).select_by_visible_text("Commercial")
    Select(browser.find_element(By.NAME, "code")).select_by_visible_text("CPT 47383")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(browser, 20).until(lambda b: "member=Commercial" in b.current_url)
    assert "code=CPT+47383" in browser.current_url
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.scenario h3")]
    assert len(headings) == 4  # one plan and one code: each of the 3 indications, and none
    assert all(h.startswith("Commercial \u00b7 ") for h in headings)
    assert Select(browser.find_element(By.NAME, "member")).first_selected_option.text == \
        "Commercial"
    assert Select(browser.find_element(By.NAME, "indication")).first_selected_option.text == "All"
    # The point of the filter: a page an author can read, not the whole preview's length.
    assert js(browser, "return document.documentElement.scrollHeight") < full_height / 4
    # Every control of the form is on screen at once, at the width of an EHR side panel too.
    for control in browser.find_elements(By.CSS_SELECTOR, "form.filters select, form.filters "
                                                           "button"):
        box = control.rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    browser.find_element(By.LINK_TEXT, "show all").click()
    WebDriverWait(browser, 20).until(lambda b: "?" not in b.current_url)
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.scenario")) == every


def test_api_docs_render_every_endpoint_from_our_own_assets(browser: webdriver.Chrome,
                                                           base_url: str) -> None:
    open_at(browser, f"{base_url}/docs", 1400)
    WebDriverWait(browser, 20).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(ENDPOINTS))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) == len(ENDPOINTS)
    assert not browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper")
    loaded = js(browser, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(base_url + "/") for url in loaded), loaded
