"""Every card the bundled policy produces fits an EHR's card panel: a clinician sees what to do and
the buttons without scrolling (issue 18: at most 450 px tall in a 1280x1000 window, the first
suggestion button inside it).

The panel is drawn the way EHRs draw CDS Hooks cards (the CDS Hooks sandbox, Epic's and Oracle
Health's CDS panels): 800 px wide, a 16 px system font at line height 1.5, the summary in bold,
the source label, the detail's Markdown, the suggestion buttons, the links as a list and the
override reasons behind one "Dismiss" control. The cards are the service's own answers: every
scenario of the card preview (each code x line of business or unknown plan x indication or none)
and every example request with its hook (order-select, order-sign, appointment-book,
order-dispatch)."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from selenium import webdriver
from selenium.webdriver.common.by import By

from cds_service.evaluate import Evaluator
from cds_service.knowledge import load_knowledge
from cds_service.pages.render import markdown
from cds_service.preview import preview
from tests.support import EXAMPLES, call, example

pytestmark = pytest.mark.browser

MAX_HEIGHT = 450
WINDOW = (1280, 1000)
POLICY = "cryosurgical-ablation-liver-tumors"

PANEL_CSS = """
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; }
.panel { width: 800px; }
.card { border: 1px solid #ccc; border-left: 4px solid #c90; padding: 8px 12px; margin: 0; }
.summary { font-weight: bold; margin: 0; }
.source { font-size: 14px; color: #555; margin: 0 0 4px; }
.detail p, .detail ul, .detail blockquote { margin: 0 0 4px; }
.detail ul { padding-left: 20px; }
.detail blockquote { padding-left: 10px; border-left: 3px solid #ddd; }
.suggestions { display: flex; flex-wrap: wrap; gap: 8px; margin: 6px 0; }
.suggestions > * { white-space: nowrap; }
button, select { font: inherit; padding: 2px 10px; }
select { max-width: 240px; }
ul.links { margin: 0 0 6px; padding-left: 20px; }
"""


def panel(card: dict[str, Any]) -> str:
    """One card as an EHR's CDS panel shows it."""
    links = "".join(f'<li><a href="{html.escape(link["url"])}">{html.escape(link["label"])}</a>'
                    "</li>" for link in card.get("links", []))
    buttons = "".join(f"<button class='suggestion'>{html.escape(s['label'])}</button>"
                      for s in card.get("suggestions", []))
    reasons = "".join(f"<option>{html.escape(r.get('display') or r['code'])}</option>"
                      for r in card.get("overrideReasons", []))
    dismiss = (f"<select class='override'><option>Dismiss: choose a reason</option>{reasons}"
               "</select>") if reasons else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{PANEL_CSS}</style></head>"
        "<body><div class='panel'><article class='card'>"
        f"<p class='summary'>{html.escape(card['summary'])}</p>"
        f"<p class='source'>{html.escape(card['source']['label'])}</p>"
        f"<div class='detail'>{markdown(card.get('detail', ''))}</div>"
        f"<div class='suggestions'>{buttons}{dismiss}</div>"
        f"<ul class='links'>{links}</ul>"
        "</article></div></body></html>")


def bundled_cards(client: TestClient) -> list[tuple[str, dict[str, Any]]]:
    knowledge = load_knowledge(None, None)
    loaded = knowledge.policies.get(POLICY)
    assert loaded is not None
    evaluator = Evaluator(knowledge, public_base_url="https://cds.example.org")
    found = [(p.label, card)
             for p in asyncio.run(preview(evaluator, loaded.policy, knowledge.payer))
             for card in p.cards]
    for scenario in yaml.safe_load((EXAMPLES / "scenarios.yaml").read_text()):
        if "status" in scenario["expect"]:
            continue
        name = scenario["request"].removeprefix("requests/").removesuffix(".json")
        found += [(name, card) for card in call(client, example(name)).json()["cards"]]
    return found


def test_every_bundled_card_fits_the_panel_with_its_buttons_visible(
        browser: webdriver.Chrome, client: TestClient, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    browser.set_window_size(*WINDOW)
    cards = bundled_cards(client)
    assert len(cards) >= 36
    figures = []
    for i, (label, card) in enumerate(cards):
        page = tmp_path / f"card-{i}.html"
        page.write_text(panel(card), encoding="utf-8")
        browser.get(page.as_uri())
        box = browser.find_element(By.CSS_SELECTOR, "article.card").rect
        viewport = browser.execute_script("return window.innerHeight")
        controls = browser.find_elements(By.CSS_SELECTOR, "button.suggestion, select.override")
        bottom = max((c.rect["y"] + c.rect["height"] for c in controls), default=0)
        figures.append((box["height"], bottom, label))
        # Every button (the suggestion, the override reasons) is inside the card and on screen.
        assert bottom <= box["y"] + box["height"] and bottom <= viewport, (label, bottom)
        if card.get("suggestions"):
            assert browser.find_element(By.CSS_SELECTOR, "button.suggestion").is_displayed()
    too_tall = [(height, label) for height, _, label in figures if height > MAX_HEIGHT]
    assert not too_tall, too_tall
    tallest = max(figures)
    with capsys.disabled():
        print(f"\ncard panel (800 px, 16 px/1.5): {len(figures)} cards, tallest "
              f"{tallest[0]:.0f} px ({tallest[2]}), last button at most "
              f"{max(f[1] for f in figures):.0f} px; limit {MAX_HEIGHT} px")
