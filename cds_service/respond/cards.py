"""The card shown for a matched order (CDS Hooks 2.0 §Card Attributes, Da Vinci CRD cards.md).

Wording rule: sentences of substance are the policy's own, quoted verbatim from the policy file;
our framing around them is limited to headings and the order's name, so a compliance reviewer can
find every statement in the payer's document.
"""

from __future__ import annotations

from collections.abc import Callable

from cds_service.hooks.response import Action, Card, Coding, Link, Source, Suggestion
from cds_service.respond import markdown as md
from cds_service.respond.finding import Finding

CARD_TYPE_SYSTEMS = {
    # Da Vinci CRD 2.2 moved card types to terminology.hl7.org; 2.0.1/2.1 used the IG's temp system.
    "2.2": "http://terminology.hl7.org/CodeSystem/cdshooks-card-type",
    "2.1": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
}
CARD_TYPE_DISPLAYS = {
    # The displays both systems define (CRD ValueSet cardType, 2.0.1 and 2.2.1:
    # https://hl7.org/fhir/us/davinci-crd/2.2.1/en/ValueSet-cardType.html; the IG's example
    # responses in shared/reference/crd). EHRs show them as the card's type. Codes whose display
    # we could not check are sent without one.
    "coverage-info": "Coverage Information",
    "claim": "Claim",
    "insurance": "Insurance",
    "clinical-reminder": "Clinical Reminder",
    "guideline": "Guideline",
    "therapy-alternatives-opt": "Optional Therapy Alternatives",
}
ASSOCIATED_RESOURCE = "davinci-crd.associated-resource"
MAX_REASONS = 5
"""Reasons quoted on a card; more are counted, not listed."""


def summary(f: Finding) -> str:
    """One line naming the determination for the member's plan and the procedure (< 140 chars)."""
    what = f"{f.policy.procedure} ({f.code_label})"
    det = f.determination
    if det is not None and f.line is not None:
        return f"{_capital(det.phrase)} for this {f.line.name} member: {what}"
    outcomes = " / ".join(f"{d.phrase} for {line.name}" for line, d in f.policy_lines)
    return f"{_capital(what)}: {outcomes}"


def detail(f: Finding) -> str:
    p = f.policy
    title = f"{p.payer} medical policy \u201c{p.title}\u201d"
    if p.source.updates:
        title += f" ({p.source.updates[0]})"
    parts: list[str] = []
    det = f.determination
    if det is not None and f.line is not None:
        headline = f"{_capital(det.phrase)} for this {f.line.name} member."
        parts += [f"**{md.escape(headline)}** {md.escape(title)}, {md.escape(det.heading)}:",
                  md.quote(det.statement.quote)]
    else:
        if f.member_line is not None:
            why = (f"The policy states no determination for this member's plan "
                   f"({f.member_line.name}).")
        elif f.coverage_found:
            why = "The member's plan type could not be determined from their coverage."
        else:
            why = "No active coverage was found for this member."
        parts.append(f"**{why}** {md.escape(title)}:")
        for _, d in f.policy_lines:
            parts += [f"*{md.escape(d.heading)}*", md.quote(d.statement.quote)]
    parts += _evidence(f)
    if p.coverage_note:
        parts += ["**Coverage**", md.quote(p.coverage_note.quote)]
    if p.member_liability:
        parts += ["**Member liability**", md.quote(p.member_liability.quote)]
    order = (f"**Order:** {md.escape(f.order.describe())} \u2014 {md.escape(f.code_label)} "
             f"{md.escape(f.code.display)}")
    if p.prior_authorization:
        order += f". Prior authorization: {md.escape(p.prior_authorization.quote)}"
    parts.append(order)
    return "\n\n".join(parts)


def _evidence(f: Finding) -> list[str]:
    """The policy's evidence for the order's indication; else the populations it reviewed, with
    what the order gave as its reasons (quoted in straight quotes: the EHR's words, where curly
    quotes are the policy's) or that it gave none. Never claims an absence the order contradicts."""
    p = f.policy
    if f.indications:
        out = []
        for ind in f.indications:
            because = [r.label for r in f.reasons if ind.names_any(r.codings)]
            out += [f"**Evidence: {md.escape(ind.name)}** ({_reasons_phrase(because)})",
                    md.quote(ind.evidence.quote)]
        return out
    if not p.indications:
        return []
    if f.reasons:
        labels = [r.label for r in f.reasons]
        verb = "is" if len(labels) == 1 else "are"
        heading = (f"**Evidence** ({_reasons_phrase(labels)} {verb} not among the populations "
                   "the policy reviewed):")
    else:
        heading = "**Evidence** (the order names no reason; the populations the policy reviewed):"
    out = [heading]
    out.append("\n".join(f"- {md.escape(ind.name)}: \u201c{md.escape(ind.population.quote)}\u201d"
                         for ind in p.indications))
    if p.evidence_conclusion:
        out.append(md.quote(p.evidence_conclusion.quote))
    return out


def _reasons_phrase(labels: list[str]) -> str:
    shown = ", ".join(f'"{md.escape(label)}"' for label in labels[:MAX_REASONS])
    if len(labels) > MAX_REASONS:
        shown += f" and {len(labels) - MAX_REASONS} more"
    return f"the order's reason {shown}" if len(labels) == 1 else f"the order's reasons {shown}"


def build_card(f: Finding, *, new_id: Callable[[], str], crd_version: str,
               override_system: str, source_url: str) -> Card:
    """``source_url`` is about the payer's policies as a whole (2.0 §Source: not a drill-down);
    the card's ``links`` go to the policy itself."""
    p = f.policy
    links = [Link(label=f"Medical policy: {p.title}", url=f.policy_url)]
    links += [Link(label=f"Evidence summary: {ind.name}", url=f"{f.policy_url}#evidence-{ind.id}")
              for ind in f.indications]
    suggestions = None
    if f.removable is not None:
        reference, what = f.removable
        suggestions = [Suggestion(
            label=f"Remove the {p.procedure} {what.lower()}",
            uuid=new_id(),
            actions=[Action(type="delete", resource_id=reference,
                            description=f"Remove the draft {what.lower()}: "
                                        f"{f.order.describe()}")],
        )]
    # CRD §dev-25: cards about a subset of the orders SHOULD name them (and the appointment
    # being booked for the order, when that is what the hook is about).
    associated = [ref for ref in (f.order.reference, f.order.via_reference) if ref]
    extension = {ASSOCIATED_RESOURCE: [{"reference": r} for r in associated]} if associated \
        else None
    return Card(
        uuid=new_id(),
        summary=summary(f),
        indicator="warning" if f.determination else "info",
        detail=detail(f),
        source=Source(label=p.payer, url=source_url,
                      topic=Coding(system=CARD_TYPE_SYSTEMS[crd_version], code=p.card_topic,
                                   display=CARD_TYPE_DISPLAYS.get(p.card_topic))),
        links=links,
        suggestions=suggestions,
        selection_behavior="at-most-one" if suggestions else None,
        override_reasons=[Coding(system=override_system, code=r.code, display=r.display)
                          for r in p.override_reasons] or None,
        extension=extension,
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
