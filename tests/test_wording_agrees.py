"""No card says what its own coverage-information record does not (issue 17).

For every policy of both directories (the bundled one, and ``fhir_examples/policies`` with its
fictional payer's ``fhir_examples/payer.yaml``), every
card the preview can produce (each code, member situation and reason set, through the code that
answers hook calls) is checked against the coded values of the coverage-information sent with it:
the indicator, the summary, the labelled lines near the top, and that every quoted passage is in
one of the payer's documents. The expectations are written out here, not taken from
``respond/wording.py``.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from cds_service.evaluate import Evaluator
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.preview import Preview, preview
from tests.support import EXAMPLE_PAYER, EXAMPLE_POLICIES

DIRECTORIES = {"bundled": (None, None), "examples": (EXAMPLE_POLICIES, EXAMPLE_PAYER)}
"""Name: (CDS_POLICY_DIR, CDS_PAYER_FILE)."""
NOT_COVERED = ("Not covered", "Not medically necessary", "Investigational")
PA_LABELS = {"auth-needed": "Prior authorization needed.",
             "performpa": "Prior authorization needed, requested by the performing provider.",
             "conditional": "Prior authorization may be needed.",
             "no-auth": "No prior authorization needed."}
DOC_LABELS = {"clinical": "Clinical documentation needed",
              "admin": "Administrative documentation needed",
              "patient": "Information from the patient needed"}
PURPOSES = {"withpa": "with the prior authorization request", "withclaim": "with the claim",
            "withorder": "with the order", "retain-doc": "kept in the medical record"}


def previews() -> list[tuple[str, Knowledge, Preview]]:
    out = []
    for name, (directory, payer_file) in DIRECTORIES.items():
        knowledge = load_knowledge(directory, payer_file)
        evaluator = Evaluator(knowledge, public_base_url="https://cds.payer.example")
        for lp in knowledge.policies.all():
            for item in asyncio.run(preview(evaluator, lp.policy, knowledge.payer)):
                out.append((f"{name}:{lp.policy.id}:{item.label}", knowledge, item))
    return out


CASES = previews()


def test_the_previews_show_every_new_answer() -> None:
    """Across both directories the previews produce every covered and pa-needed value, and
    documentation and information needed."""
    seen: dict[str, set[str]] = {}
    for _, _, item in CASES:
        for key, codes in item.coverage.items():
            seen.setdefault(key, set()).update(codes)
    assert {"covered", "not-covered", "conditional", "indeterminate"} <= seen["covered"]
    assert {"auth-needed", "no-auth", "conditional"} <= seen["pa-needed"]
    assert seen["doc-needed"] and seen["info-needed"] and seen["doc-purpose"]
    # Each kind of non-coverage, in the document's own words.
    summaries = {card["summary"].split(" for this ")[0] for _, _, item in CASES
                 for card in item.cards}
    assert set(NOT_COVERED) <= summaries


def labels(detail: str) -> list[str]:
    """The bold labels opening the card's paragraphs (ours), in order."""
    return [m.group(1) for block in unescape(detail).split("\n\n")
            if (m := re.match(r"\*\*(.+?)\*\*", block))]


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize(("label", "knowledge", "item"), CASES, ids=[c[0] for c in CASES])
def test_card_wording_agrees_with_its_coverage_information(
        label: str, knowledge: Knowledge, item: Preview) -> None:
    info = item.coverage
    covered = info.get("covered", [None])[0]
    pa = info.get("pa-needed", [None])[0]
    docs, purposes = info.get("doc-needed", []), info.get("doc-purpose", [])
    needs_something = pa in ("auth-needed", "performpa", "conditional") or bool(docs)
    if not item.cards:
        # No card only where nothing is left to say beyond the coverage information (§resp-12).
        assert covered == "covered" and not needs_something, info
        return
    if covered == "indeterminate":
        # The member's plan type is unknown: each policy's card says what it decides for each
        # line, never a determination for this member.
        for card in item.cards:
            assert card["indicator"] == "info" and "for this" not in card["summary"]
        return
    assert len(item.cards) == 1, "one card per order, whatever number of policies decided"
    card = item.cards[0]
    summary, found = card["summary"], labels(card["detail"])
    assert len(summary) < 140
    if covered == "not-covered":
        assert card["indicator"] == "warning"
        assert summary.startswith(NOT_COVERED) and "for this" in summary
        assert "Covered" not in summary and "authorization" not in summary
        assert not [x for x in found if "authorization" in x or "documentation" in x]
    elif covered == "conditional":
        assert card["indicator"] == "warning"
        assert summary.startswith("Covered if criteria are met for this ")
    elif covered == "covered":
        assert card["indicator"] == "info"
        assert summary.startswith("Covered for this ") and needs_something
        assert not {"links", "suggestions", "overrideReasons"} & set(card), "Instructions card"
    else:
        pytest.fail(f"unexpected covered {covered!r}")
    if covered != "not-covered":
        pa_lines = [x for x in found if x in PA_LABELS.values()]
        assert pa_lines == ([PA_LABELS[pa]] if pa else [])
        if pa in ("auth-needed", "performpa") and "authorization" in summary:
            assert "Prior authorization needed" in summary
        if pa == "no-auth":
            assert "authorization" not in summary
        doc_lines = [x for x in found if "documentation needed" in x or "patient needed" in x]
        # Each documentation line names a kind and a purpose the record carries, and every
        # kind the record carries has a line.
        line_kinds = set()
        for line in doc_lines:
            kind = next(k for k, text in DOC_LABELS.items() if line.startswith(text))
            assert any(line == f"{DOC_LABELS[kind]}, {PURPOSES[p]}." for p in purposes), line
            line_kinds.add(kind)
        assert line_kinds == set(docs)
        if not docs:
            assert "Documentation" not in summary
        criteria = any(x.startswith("Criteria the order does not show") for x in found)
        assert criteria == (covered == "conditional" and "OTH" in info.get("info-needed", []))
    documents = " ".join(re.sub(r"\s+", " ", lp.document or "")
                         for lp in knowledge.policies.all())
    detail = unescape(card["detail"])
    quoted = [line[2:] for line in detail.split("\n") if line.startswith("> ")]
    quoted += re.findall(r"\u201c(.+?)\u201d", detail)
    assert quoted
    for text in quoted:
        assert text in documents, text


