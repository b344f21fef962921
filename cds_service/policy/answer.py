"""What the service answers on one order (pure): a policy's determination applied to what the
request proves, and several policies' answers on one order combined.

The answer is the one source of both the coverage-information record and the card's wording
(``cds_service.respond.wording``), so the two cannot disagree.

Combining (several policies match one order): the most restrictive wins, value by value, in the
orders below (``COVERED_ORDER``, ``PA_ORDER``); documentation and information needed are the
union; a non-coverage drops prior authorization, documentation and information (CRD q2: nothing
would change the answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from cds_service.policy.determinations import (
    Criterion,
    Determination,
    Documentation,
    Information,
    PriorAuthorization,
    Require,
)

COVERED_ORDER = ("not-covered", "indeterminate", "conditional", "covered")
"""Most restrictive first: a non-coverage stands whatever else applies; a policy that cannot
decide (the member's plan type unknown) outranks one that could cover on conditions."""
PA_ORDER = ("auth-needed", "performpa", "indeterminate", "conditional", "no-auth")
NOT_SHOWN = "OTH"
"""info-needed when the order does not show the criteria: no narrower CRD code fits clinical
facts (a diagnosis, a disease stage) the payer needs; q6 ties it to a reason."""


@dataclass(frozen=True)
class Answer:
    """Coded CRD values, each with the quotes that back it."""

    covered: str
    """covered | not-covered | conditional | indeterminate (the plan type unknown)."""
    statement: str | None
    not_covered_as: str | None = None
    prior_authorization: PriorAuthorization | None = None
    documentation: tuple[Documentation, ...] = ()
    information: tuple[Information, ...] = ()
    require: Require | None = None
    unproven: tuple[Criterion, ...] = ()
    """The criteria the request does not show (all of them, for ``any``), when conditional."""
    proven: tuple[Criterion, ...] = ()

    @property
    def pa_needed(self) -> str | None:
        return self.prior_authorization.needed if self.prior_authorization else None

    @property
    def doc_needed(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.needed for d in self.documentation))

    @property
    def doc_purpose(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.purpose for d in self.documentation))

    @property
    def info_needed(self) -> tuple[str, ...]:
        codes = [NOT_SHOWN] if self.unproven else []
        return tuple(dict.fromkeys([*codes, *(i.needed for i in self.information)]))


def decide(det: Determination, reasons: list[tuple[str, str]]) -> Answer:
    """The determination applied to the order's reason codes. Criteria the request cannot prove
    make the answer ``conditional``, never a non-coverage."""
    pa = det.prior_authorization
    conditional_pa = pa is not None and pa.needed == "conditional"
    base = Answer(covered=det.covered, statement=det.statement.quote,
                  not_covered_as=det.not_covered_kind, prior_authorization=pa,
                  documentation=tuple(det.documentation))
    if det.criteria is None:
        return replace(base, information=tuple(det.information) if conditional_pa else ())
    items = det.criteria.items
    proven = tuple(c for c in items if c.proven_by(reasons))
    met = len(proven) == len(items) if det.criteria.require == "all" else bool(proven)
    if met:
        return replace(base, covered="covered", require=det.criteria.require, proven=proven,
                       information=tuple(det.information) if conditional_pa else ())
    unproven = tuple(c for c in items if c not in proven) if det.criteria.require == "all" \
        else items
    return replace(base, covered="conditional", require=det.criteria.require, proven=proven,
                   unproven=tuple(unproven), information=tuple(det.information))


def combine(answers: Sequence[Answer]) -> Answer:
    """One answer for an order several policies decide on (most restrictive first)."""
    ranked = sorted(answers, key=lambda a: COVERED_ORDER.index(a.covered))
    first = ranked[0]
    if len(ranked) == 1 or first.covered == "not-covered":
        return first
    pas = [a.prior_authorization for a in ranked if a.prior_authorization is not None]
    pa = min(pas, key=lambda p: PA_ORDER.index(p.needed)) if pas else None
    # Information is asked for only while something still depends on it (CRD q3): a policy's
    # "prior authorization if ..." is moot once another needs it anyway.
    conditional = first.covered == "conditional" or (pa is not None and pa.needed == "conditional")
    return replace(
        first,
        prior_authorization=pa,
        documentation=tuple(dict.fromkeys(d for a in ranked for d in a.documentation)),
        information=tuple(dict.fromkeys(i for a in ranked for i in a.information))
        if conditional else (),
        unproven=_unique(c for a in ranked for c in a.unproven),
        proven=_unique(c for a in ranked for c in a.proven),
    )


def _unique(criteria: Iterable[Criterion]) -> tuple[Criterion, ...]:
    """Each criterion once (two policies may quote the same words)."""
    return tuple({c.quote: c for c in criteria}.values())


def rank(answer: Answer) -> int:
    """Position in ``COVERED_ORDER`` (0: most restrictive)."""
    return COVERED_ORDER.index(answer.covered)


def possible_answers(det: Determination) -> list[Answer]:
    """Every answer the determination can give, whatever the request proves."""
    unproven = decide(det, [])
    if unproven.covered != "conditional":
        return [unproven]
    conditional_pa = det.prior_authorization is not None \
        and det.prior_authorization.needed == "conditional"
    met = replace(unproven, covered="covered", unproven=(),
                  information=tuple(det.information) if conditional_pa else ())
    return [unproven, met]
