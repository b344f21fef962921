"""The card shown for a matched order (CDS Hooks 2.0 §Card Attributes, Da Vinci CRD cards.md).

Wording rule: sentences of substance are the policy's own, quoted verbatim from the policy file;
our framing around them is limited to headings and the order's name, so a compliance reviewer can
find every statement in the payer's document.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from cds_service.crd_versions import CrdVersion
from cds_service.hooks.response import Action, Card, Coding, Link, Source, Suggestion
from cds_service.policy.answer import Answer
from cds_service.policy.models import Indication
from cds_service.respond import markdown as md
from cds_service.respond import wording
from cds_service.respond.finding import Finding

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
T = TypeVar("T")
MAX_REASONS = 5
"""Reasons quoted on a card; more are counted, not listed."""


def summary(f: Finding, answer: Answer | None = None) -> str:
    """One line naming the determination for the member's plan and the procedure (< 140 chars),
    derived from the coded answer (``wording``)."""
    what = f"{f.policy.procedure} ({f.code_label})"
    answer = answer or f.answer
    if answer is not None and f.line is not None:
        return wording.summary(answer, f.line.name, what)
    lines_by_phrase: dict[str, list[str]] = {}
    for line, d in f.policy_lines:
        lines_by_phrase.setdefault(wording.file_phrase(d), []).append(line.name)
    outcomes = " / ".join(f"{phrase} for {' and '.join(names)}"
                          for phrase, names in lines_by_phrase.items())
    return f"{_capital(what)}: {outcomes}"


def detail(f: Finding, answer: Answer | None = None, also: Sequence[Finding] = (), *,
           name_order: bool = True) -> str:
    """What to do and why first, then the evidence for the order's indication, the member
    liability rule and the order: each sentence the policy's own, quoted, or a labelled heading;
    no sentence twice (CRD cards.md §resp-7, §resp-8: the critical paragraph first; the full
    policy is one click away in ``links``). The summary already names the determination and the
    member's plan, so the detail does not repeat them. ``name_order``: other orders of the call
    get cards too, so each card names its order as the clinician wrote it (CRD §dev-24, in human
    terms; the summary names the procedure and its code, which tells one card from another only
    when the orders' codes differ).

    The policy's part is the same on every card of its kind (``_text``, made once); a call adds
    the order's reasons to the evidence headings and the order's name."""
    return _render(_text(f, answer or f.answer, tuple(also)), f, name_order)


def _render(text: _Text, f: Finding, name_order: bool) -> str:
    parts = list(text.lead)
    if not text.instructions:
        parts += [e.render(f) for e in text.evidence]
        parts += text.tail
    if name_order:
        parts.append(f"**Order:** {md.escape(f.order.describe())}")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class _Evidence:
    """One evidence line: its heading names the order's reasons (the call's own), the rest is
    the policy's conclusion, quoted unless the card said it already."""
    indication: Indication | None
    conclusion: str

    def render(self, f: Finding) -> str:
        if self.indication is not None:
            ind = self.indication
            because = [r.label for r in f.reasons if ind.names_any(r.codings)]
            return f"**Evidence: {md.escape(ind.name)}** ({_reasons_phrase(because)})" \
                + self.conclusion
        # Which populations were reviewed is one click away (the "Evidence summaries" link).
        if f.reasons:
            return (f"**Evidence** ({_reasons_phrase([r.label for r in f.reasons])} could not "
                    "be matched to the populations the policy reviewed)" + self.conclusion)
        return ("**Evidence** (the order names no reason to match to the populations the policy "
                "reviewed)" + self.conclusion)


@dataclass(frozen=True)
class _Text:
    """What a card's detail quotes from its policy, fixed for (policy version, member's plan,
    answer, indications, other deciding policies)."""
    lead: tuple[str, ...]
    evidence: tuple[_Evidence, ...]
    tail: tuple[str, ...]
    instructions: bool


_KEPT: OrderedDict[tuple[object, ...], tuple[tuple[object, ...], Any]] = OrderedDict()
_KEEP = 2048
"""Entries kept, least recently used dropped first: far more than the kinds of cards a set of
policies produces (policies x plans x answers x indications)."""


def _remembered(held: tuple[object, ...], scalars: tuple[object, ...],
                make: Callable[[], T]) -> T:
    """``make()``, made once for the objects ``held`` (by identity) and the values ``scalars``.
    The objects are kept with the entry, so that no id in its key is reused while it lives (a
    reload brings new objects, and so new keys)."""
    key = (make.__qualname__, *map(id, held), *scalars)
    found = _KEPT.get(key)
    if found is not None:
        _KEPT.move_to_end(key)
        return cast(T, found[1])
    value = make()
    _KEPT[key] = (held, value)
    if len(_KEPT) > _KEEP:
        _KEPT.popitem(last=False)
    return value


def _text(f: Finding, answer: Answer | None, also: tuple[Finding, ...]) -> _Text:
    held, scalars = _key(f, answer, also)
    return _remembered(held, scalars, lambda: _make_text(f, answer, also))


def _key(f: Finding, answer: Answer | None, also: tuple[Finding, ...],
         ) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """What a card's wording depends on: the policy version and its parts, the member's plan,
    the other deciding policies, and the answer."""
    held: tuple[object, ...] = (f.policy, f.code, f.line, f.determination, *f.indications,
                                *(o.policy for o in also), *(o.determination for o in also),
                                *(line for line, _ in f.policy_lines))
    scalars: tuple[object, ...] = (len(f.indications), len(also), len(f.policy_lines),
                                   f.coverage_found)
    if answer is not None:
        # The answer is made per call from the policy's own parts (its statement's quotes,
        # requirements and criteria): those parts name it.
        held += (answer.prior_authorization, answer.require, *answer.documentation,
                 *answer.information, *answer.unproven, *answer.proven)
        scalars += (answer.covered, answer.statement, answer.not_covered_as,
                    len(answer.documentation), len(answer.information), len(answer.unproven))
    return held, scalars


def _make_text(f: Finding, answer: Answer | None, also: tuple[Finding, ...]) -> _Text:
    p = f.policy
    said = _Said()
    lead: list[str] = []
    det = f.determination
    if det is not None and f.line is not None and answer is not None:
        if also or wording.is_instructions(answer):
            # Several policies decided, or the card has no links: each statement names its
            # policy, so a reviewer knows whose words they are.
            lead.append(f"*{md.escape(p.title)}:* {said.inline(det.statement.quote)}")
        else:
            lead.append(said.quote(det.statement.quote))
        lead += _needs(answer, also, said)
        if wording.is_instructions(answer):
            # CRD Instructions: what to send, not the evidence (that is for a non-coverage).
            return _Text(tuple(lead), (), (), True)
    else:
        # (A plan type the policy decides nothing for gets no card: ``Finding.undecided``.)
        if f.coverage_found:
            why = "The member's plan type could not be determined from their coverage."
        else:
            why = "No active coverage was found for this member."
        # The summary names each plan's determination; the statements are on the policy page.
        lead.append(f"**{md.escape(why)}**")
    evidence = _evidence(f, said)
    tail = []
    if p.member_liability and f.quotes_member_liability and said.new(p.member_liability.quote):
        tail.append(f"**Member liability:** {said.inline(p.member_liability.quote)}")
    return _Text(tuple(lead), tuple(evidence), tuple(tail), False)


def _needs(answer: Answer, also: Sequence[Finding], said: _Said) -> list[str]:
    """The other deciding policies' statements, then one labelled line per coded need
    (``wording.lines``: prior authorization, documentation, criteria, information), each with
    the policy's words for it."""
    out = []
    for other in also:
        if other.determination is not None:
            out.append(f"*{md.escape(other.policy.title)}:* "
                       f"{said.inline(other.determination.statement.quote)}")
    for label, quotes in wording.lines(answer):
        if len(quotes) == 1:
            out.append(f"**{md.escape(label)}** {said.inline(quotes[0])}")
        else:
            out.append(f"**{md.escape(label)}**\n" +
                       "\n".join(f"- {said.inline(q)}" for q in quotes))
    return out


def _evidence(f: Finding, said: _Said) -> list[_Evidence]:
    """The evidence for the order's indication, as its concluding sentence (unless the card has
    said it already; the whole summary is the card's "Evidence summary" link); else what the
    order gave as its reasons (quoted in straight quotes: the EHR's words, where curly quotes are
    the policy's) or that it gave none, and the policy's conclusion. Never claims an absence the
    order contradicts: a reason that matched no indication "could not be matched", which is all
    the service knows (a code it does not list may still be one of the populations)."""
    p = f.policy
    if f.indications:
        out = []
        for ind in f.indications:
            conclusion = ""
            if ind.conclusion and said.new(ind.conclusion.quote):
                conclusion = f": {said.inline(ind.conclusion.quote)}"
            out.append(_Evidence(ind, conclusion))
        return out
    if not p.indications:
        return []
    if p.evidence_conclusion and said.new(p.evidence_conclusion.quote):
        return [_Evidence(None, f": {said.inline(p.evidence_conclusion.quote)}")]
    return [_Evidence(None, "")]


def _reasons_phrase(labels: list[str]) -> str:
    shown = ", ".join(f'"{md.escape(label)}"' for label in labels[:MAX_REASONS])
    if len(labels) > MAX_REASONS:
        shown += f" and {len(labels) - MAX_REASONS} more"
    return f"the order's reason {shown}" if len(labels) == 1 else f"the order's reasons {shown}"


class _Said:
    """The policy sentences a card has quoted so far, so none is said twice (a statement that
    ends with the evidence's conclusion makes quoting that conclusion again noise)."""

    def __init__(self) -> None:
        self._text = ""

    def new(self, sentence: str) -> bool:
        return _plain(sentence) not in self._text

    def quote(self, text: str) -> str:
        self._text += " " + _plain(text)
        return md.quote(text)

    def inline(self, text: str) -> str:
        self._text += " " + _plain(text)
        return f"\u201c{md.escape(text)}\u201d"


def _plain(text: str) -> str:
    return " ".join(text.lower().rstrip(".").split())


def build_card(f: Finding, *, new_id: Callable[[], str], version: CrdVersion,
               override_system: str, source_url: str, name_order: bool = True,
               answer: Answer | None = None, also: Sequence[Finding] = ()) -> Card | None:
    """``source_url`` is about the payer's policies as a whole (2.0 §Source: not a drill-down);
    the card's ``links`` go to the policy itself. ``answer`` is the order's answer when several
    policies (``f`` and ``also``) decide on it. No card for a plain ``covered`` (the
    coverage-information action says it all, CRD §resp-12); when coverage holds but prior
    authorization or documentation is needed the card is an Instructions card
    (``respond.instructions``, built by the caller from ``summary`` and ``detail``)."""
    p = f.policy
    answer = answer or f.answer
    if answer is not None and not wording.needs_card(answer):
        return None
    held, scalars = _key(f, answer, tuple(also))
    frame = _remembered(
        (*held, version), (*scalars, override_system, source_url, f.policy_url,
                           *(o.policy_url for o in also)),
        lambda: _make_frame(f, answer, tuple(also), version=version,
                            override_system=override_system, source_url=source_url))
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
    return Card(
        uuid=new_id(),
        summary=frame.summary,
        indicator=frame.indicator,
        detail=_render(frame.text, f, name_order),
        source=frame.source,
        links=list(frame.links),
        suggestions=suggestions,
        selection_behavior="at-most-one" if suggestions else None,
        override_reasons=list(frame.override_reasons) or None,
        extension=associated_resources(f),
    )


@dataclass(frozen=True)
class _Frame:
    """A card's parts fixed for its kind (``_key``): made once, shared by every card of it."""
    summary: str
    indicator: str
    text: _Text
    source: Source
    links: tuple[Link, ...]
    override_reasons: tuple[Coding, ...]


def _make_frame(f: Finding, answer: Answer | None, also: tuple[Finding, ...], *,
                version: CrdVersion, override_system: str, source_url: str) -> _Frame:
    p = f.policy
    source = Source(label=p.payer, url=source_url,
                    topic=Coding(system=version.card_type_system, code=p.card_topic,
                                 display=CARD_TYPE_DISPLAYS.get(p.card_topic)))
    title = f"Medical policy: {p.title}"
    if p.source.updates:
        title += f" ({p.source.updates[0]})"
    links = [Link(label=title, url=f.policy_url)]
    links += [Link(label=f"Medical policy: {o.policy.title}", url=o.policy_url) for o in also]
    # The full evidence is one click away: the summary for the order's indication, else all.
    links += [Link(label=f"Evidence summary: {ind.name}", url=f"{f.policy_url}#evidence-{ind.id}")
              for ind in f.indications]
    if p.indications and not f.indications:
        links.append(Link(label="Evidence summaries", url=f"{f.policy_url}#evidence"))
    return _Frame(
        summary=summary(f, answer), indicator=wording.indicator(answer),
        text=_make_text(f, answer, also), source=source,
        links=tuple(links),
        # What fits the member's plan type, from the payer file (none when it is not known).
        override_reasons=tuple(Coding(system=override_system, code=r.code, display=r.display)
                               for r in f.override_reasons))


def associated_orders(f: Finding) -> list[str]:
    """CRD §dev-25: cards about a subset of the orders SHOULD name them (and the appointment
    being booked for the order, when that is what the hook is about)."""
    return [ref for ref in (f.order.reference, f.order.via_reference) if ref]


def associated_resources(f: Finding) -> dict[str, Any] | None:
    refs = associated_orders(f)
    return {ASSOCIATED_RESOURCE: [{"reference": r} for r in refs]} if refs else None


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
