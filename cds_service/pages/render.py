"""Rendering the pages: templates autoescape everything; card detail is CDS Hooks Markdown
(2.0 §Card Attributes: GitHub Flavored Markdown), rendered by markdown-it-py with raw HTML off, so
a card shows its text as an EHR would and nothing in it becomes markup of its own."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

from cds_service.fhir.coding import SYSTEM_LABELS, canonical_system
from cds_service.payer.models import LineOfBusiness
from cds_service.policy.models import Indication, Policy
from cds_service.preview import FACETS, NO_COVERAGE, Preview, code_label, facets
from cds_service.respond.wording import file_phrase

FACET_LABELS = {"member": "Member's plan", "code": "Code", "indication": "Indication"}
"""The filter form's label of each preview facet."""


@dataclass(frozen=True)
class DiagnosisRow:
    requirement: str
    system: str
    codes: str


@cache
def _markdown() -> MarkdownIt:
    # CommonMark with GFM tables and strikethrough; "html": False escapes raw HTML instead of
    # passing it through, and markdown-it refuses javascript:/vbscript:/file:/data: link targets.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown(text: str) -> Markup:
    # Safe to mark: markdown-it escapes every raw HTML fragment (html off).
    return Markup(_markdown().render(text))


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("cds_service.pages"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["markdown"] = markdown
    env.globals["stylesheet"] = Markup(
        files("cds_service.pages").joinpath("pages.css").read_text(encoding="utf-8"))
    return env


def render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


def system_label(system: str) -> str:
    return SYSTEM_LABELS.get(canonical_system(system), system)


def diagnosis_rows(indication: Indication) -> list[DiagnosisRow]:
    """One row per diagnosis group and code system: every group must be matched, by any code."""
    rows = []
    groups = indication.diagnoses
    for n, group in enumerate(groups, 1):
        requirement = "Any of" if len(groups) == 1 else f"Group {n} of {len(groups)}: any of"
        by_system: dict[str, list[str]] = {}
        for ref in group.any_of:
            text = f"{ref.code} and codes under it" if ref.descendants else ref.code
            by_system.setdefault(system_label(ref.system), []).append(text)
        rows += [DiagnosisRow(requirement, system, ", ".join(codes))
                 for system, codes in by_system.items()]
    return rows


def policy_page(policy: Policy, *, lines: list[LineOfBusiness], document: str | None,
                index_url: str, preview_url: str, payer: str,
                versions: list[tuple[Policy, str]] | None = None) -> str:
    """``lines``: the payer file's lines of business; ``versions``: every version of the policy
    with its page URL, oldest first."""
    override_lines = [(line.name, line.override_reasons) for line in lines
                      if line.id in policy.determinations and line.override_reasons]
    return render("policy.html", p=policy, line_names={line.id: line.name for line in lines},
                  document=document, index_url=index_url, preview_url=preview_url, payer=payer,
                  system_label=system_label, diagnosis_rows=diagnosis_rows,
                  file_phrase=file_phrase, versions=versions or [],
                  override_lines=override_lines)


def index_page(policies: list[tuple[Policy, str, str]], *, payer: str, index_url: str) -> str:
    """``policies``: each policy with its page URL and its preview URL."""
    return render("index.html", policies=policies, payer=payer, index_url=index_url,
                  code_label=lambda c: f"{system_label(c.system)} {c.code}")


def preview_page(policy: Policy, previews: list[Preview], shown: list[Preview], *,
                 choices: dict[str, list[str]], selected: dict[str, str], payer: str,
                 index_url: str, policy_url: str, preview_url: str) -> str:
    """``previews``: every scenario's cards; ``shown``: those the filter ``selected`` keeps;
    ``choices``: each facet's values, for the filter form."""
    sections: dict[str, list[Preview]] = {}
    for item in shown:
        sections.setdefault(code_label(item.scenario.code), []).append(item)
    return render("preview.html", p=policy, sections=sections, payer=payer, index_url=index_url,
                  policy_url=policy_url, preview_url=preview_url,
                  card_count=sum(len(x.cards) for x in previews),
                  scenario_count=len(previews), shown_count=len(shown),
                  facets=[(name, FACET_LABELS[name]) for name in FACETS],
                  choices=choices, selected=selected, only=lambda item: urlencode(facets(
                      item.scenario)),
                  without_coverage=any(x.scenario.member == NO_COVERAGE for x in previews))
