"""The documentation: the reference pages say what the code does, every page is in the site, the
README's links lead into it, and the card the README shows is the one the service gives."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml

from cds_service.cli import build_parser, main
from cds_service.config import Settings
from cds_service.docs_reference import PAGES, stale_pages
from tests.support import ROOT

DOCS = ROOT / "docs"


def test_the_reference_pages_are_what_the_code_says() -> None:
    stale = [p.name for p in stale_pages()]
    assert not stale, f"run python -m cds_service.docs_reference: {stale} differ from the code"


def test_a_page_that_differs_from_the_code_is_caught(tmp_path: Path) -> None:
    for name, page in PAGES.items():
        (tmp_path / name).write_text(page().replace("CDS_LOG_JSON", "CDS_LOG_JASON")
                                     .replace("records purge", "records purgе"))
    assert {p.name for p in stale_pages(tmp_path)} == set(PAGES)


def test_every_setting_is_in_the_settings_reference_with_a_description() -> None:
    page = (DOCS / "reference" / "settings.md").read_text()
    described = dict(re.findall(r"^## `(CDS_[A-Z0-9_]+)`\n\nDefault: .*\n\n(.+)$", page, re.M))
    assert set(described) == {f"CDS_{name.upper()}" for name in Settings.model_fields}
    assert all(description.strip() for description in described.values())


def test_every_command_is_in_the_command_reference() -> None:
    page = (DOCS / "reference" / "commands.md").read_text()
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name in commands.choices:
        assert f"## cds-service {name}" in page


def test_every_page_is_in_the_site_navigation() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, dict):
            return [p for v in nav.values() for p in pages(v)]
        assert isinstance(nav, list)
        return [p for item in nav for p in pages(item)]

    listed = set(pages(config["nav"]))
    present = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert listed == present


def test_the_readme_is_short_and_its_links_into_the_docs_lead_to_pages() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    targets = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert not missing


def test_the_readme_shows_the_card_and_answer_evaluate_prints(
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    readme = (ROOT / "README.md").read_text()
    [request] = set(re.findall(r"fhir_examples/requests/[\w.-]+\.json", readme))
    assert main(["evaluate", str(ROOT / request)]) == 0
    answer = json.loads(capsysbinary.readouterr().out)
    [card] = answer["cards"]
    shown = [card["summary"], card["source"]["label"], card["suggestions"][0]["label"],
             *(link["label"] for link in card["links"]), answer["systemActions"][0]["description"]]
    missing = [text for text in shown if text not in readme]
    assert not missing
    # Every line of the detail, as the README shows it: Markdown marks dropped, lines wrapped.
    flat = " ".join(" ".join(line.strip(" >").split()) for line in readme.splitlines())
    lines = [" ".join(line.replace("**", "").strip(" >").split())
             for line in card["detail"].splitlines() if line.strip()]
    assert lines
    assert not [line for line in lines if line not in flat]
