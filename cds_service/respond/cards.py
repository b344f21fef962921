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
ASSOCIATED_RESOURCE = "davinci-crd.associated-resource"


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
        why = ("The member's plan type could not be determined from their coverage."
               if f.coverage_found else "No active coverage was found for this member.")
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
    p = f.policy
    if f.indications:
        out = []
        for ind in f.indications:
            out += [f"**Evidence: {md.escape(ind.name)}** (the order's reason)",
                    md.quote(ind.evidence.quote)]
        return out
    if not p.indications:
        return []
    out = ["**Evidence** (no indication on the order; the policy reviews):"]
    out.append("\n".join(f"- {md.escape(ind.name)}: \u201c{md.escape(ind.population.quote)}\u201d"
                         for ind in p.indications))
    if p.evidence_conclusion:
        out.append(md.quote(p.evidence_conclusion.quote))
    return out


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
                      topic=Coding(system=CARD_TYPE_SYSTEMS[crd_version], code=p.card_topic)),
        links=links,
        suggestions=suggestions,
        selection_behavior="at-most-one" if suggestions else None,
        override_reasons=[Coding(system=override_system, code=r.code, display=r.display)
                          for r in p.override_reasons] or None,
        extension=extension,
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
