"""What a card says about a determination, derived from its coded answer (pure).

The card's indicator, summary, headline and its "prior authorization" / "documentation" lines
are functions of the same coded values the coverage-information record carries (``Answer``), and
every other sentence is a quote from the policy: a card cannot say what its record does not.
Our words are limited to the fixed labels below, one per CRD code (CRD STU 2.2
coverage-information-codes), so ``tests/test_wording_agrees.py`` can check every card.
"""

from __future__ import annotations

from cds_service.policy.answer import Answer
from cds_service.policy.determinations import NOT_COVERED_PHRASES, Determination

COVERED_PHRASES = {
    "covered": "covered",
    "conditional": "covered if criteria are met",
    "indeterminate": "coverage could not be determined",
}
PA_LINES = {
    "auth-needed": "Prior authorization needed.",
    "performpa": "Prior authorization needed, requested by the performing provider.",
    "conditional": "Prior authorization may be needed.",
    "no-auth": "No prior authorization needed.",
}
PA_SHORT = {"auth-needed": "Prior authorization needed", "performpa": "Prior authorization needed",
            "conditional": "Prior authorization may be needed"}
DOC_LABELS = {"clinical": "Clinical documentation", "admin": "Administrative documentation",
              "patient": "Information from the patient"}
DOC_PURPOSES = {"withpa": "with the prior authorization request", "withclaim": "with the claim",
                "withorder": "with the order", "retain-doc": "kept in the medical record"}
INFO_LABELS = {
    "performer": "who will perform it", "location": "where it will be performed",
    "timeframe": "when it will be performed", "contract-window": "coverage for the date of service",
    "detail-code": "a more specific procedure code", "OTH": "other information",
}
MAX_SUMMARY = 139
REQUIRE_LABELS = {"all": "every one must be met", "any": "one must be met"}


def phrase(answer: Answer) -> str:
    """The determination in a few words: the policy's own kind of non-coverage, or ours."""
    if answer.covered == "not-covered":
        return NOT_COVERED_PHRASES[answer.not_covered_as or "not-covered"]
    return COVERED_PHRASES[answer.covered]


def file_phrase(det: Determination) -> str:
    """What a determination says before any request is seen (the card for a member whose plan
    type is unknown lists it per line of business)."""
    if det.covered == "not-covered":
        return NOT_COVERED_PHRASES[det.not_covered_kind or "not-covered"]
    return COVERED_PHRASES[det.covered]


def needs(answer: Answer) -> list[str]:
    """What the clinician must do besides the order, in summary words (none when not covered:
    CRD q2, nothing changes that answer)."""
    if answer.covered == "not-covered":
        return []
    out = []
    if answer.pa_needed in PA_SHORT:
        out.append(PA_SHORT[answer.pa_needed])
    if answer.documentation:
        out.append("Documentation needed")
    return out


def headline(answer: Answer) -> str:
    """The determination and what it asks for, as one line (also the action's description)."""
    return "; ".join([phrase(answer), *(n[:1].lower() + n[1:] for n in needs(answer))])


def summary(answer: Answer, line_name: str, what: str) -> str:
    """``<Phrase> for this <line> member: <procedure> (<code>)``, then what is needed."""
    text = f"{_capital(phrase(answer))} for this {line_name} member: {what}"
    shown = needs(answer)
    # Each policy's own answers are checked to fit at load; answers combined from several
    # policies may need more: what is needed is then left to the card's lines (CDS Hooks 2.0:
    # summary < 140 characters).
    while shown and len(full := f"{text}. {_clause(shown)}.") > MAX_SUMMARY:
        shown = shown[:-1]
    return full if shown else text


def _clause(needs: list[str]) -> str:
    """``Prior authorization needed; documentation needed``: one sentence, one capital."""
    return "; ".join([needs[0], *(n[:1].lower() + n[1:] for n in needs[1:])])


def indicator(answer: Answer | None) -> str:
    """CRD §resp-1/2: a reimbursement impact is a warning, most coverage requirements info."""
    if answer is not None and answer.covered in ("not-covered", "conditional"):
        return "warning"
    return "info"


def needs_card(answer: Answer) -> bool:
    """Whether a clinician has anything to read or do beyond what the coverage-information
    action records: not for a plain ``covered`` (CRD §resp-12)."""
    return answer.covered != "covered" or bool(needs(answer))


def is_instructions(answer: Answer) -> bool:
    """Coverage holds and something is needed: the card is CRD's Instructions response type
    (text only, no links or suggestions), about what to send, not about the policy's evidence."""
    return answer.covered == "covered" and bool(needs(answer))


def lines(answer: Answer) -> list[tuple[str, list[str]]]:
    """The lines near the top of a card: our label for a coded value, and the quotes behind it."""
    if answer.covered == "not-covered":
        return []
    out: list[tuple[str, list[str]]] = []
    pa = answer.prior_authorization
    if pa is not None:
        out.append((PA_LINES[pa.needed], [pa.quote]))
    for doc in answer.documentation:
        out.append((f"{DOC_LABELS[doc.needed]} needed, {DOC_PURPOSES[doc.purpose]}.",
                    [doc.quote]))
    if answer.unproven:
        require = REQUIRE_LABELS[answer.require or "all"]
        out.append((f"Criteria the order does not show ({require}):",
                    [c.quote for c in answer.unproven]))
        if answer.proven:
            out.append(("Criteria the order's reasons show:", [c.quote for c in answer.proven]))
    for info in answer.information:
        out.append((f"Information needed: {INFO_LABELS[info.needed]}.", [info.quote]))
    return out


def reason_quotes(answer: Answer) -> tuple[str, ...]:
    """The quotes behind pa-needed, doc-needed and info-needed, sent as further
    coverage-information ``reason`` texts beside the statement (not the criteria shown)."""
    shown = {c.quote for c in answer.proven}
    return tuple(dict.fromkeys(q for _, quotes in lines(answer) for q in quotes
                               if q not in shown))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
