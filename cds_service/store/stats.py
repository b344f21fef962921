"""How clinicians react to our cards, per policy: for policy staff (read-only).

"Shown" counts the cards we returned (the EHR decides what it displays). Every card shown counts
exactly once, by its **latest** feedback outcome (latest ``outcomeTimestamp``, then latest
received): accepted, overridden, or no feedback (CDS Hooks 2.0 §Feedback; a clinician who
ignores a card sends none), so ``accepted + overridden + noFeedback == shown``. A card accepted
and later overridden counts as overridden, under the reason of that last override, so the
override reasons and ``overriddenWithoutReason`` add up to ``overridden``. Comments count cards
with a comment on any of their feedback. The window, when given, selects the cards by when we
returned them, and counts all the feedback they later got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, distinct, func, select

from cds_service.store.clock import iso, utcnow
from cds_service.store.tables import decision, decision_card, feedback

PolicyKey = tuple[str, str]


def reason_labels(override_system: str, reasons: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """(system, code) -> display of the override reasons our cards offer (``Knowledge``)."""
    return {(override_system, code): display for code, display in reasons.items()}


@dataclass
class _Counts:
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    with_feedback: int = 0

    def to_json(self) -> dict[str, int]:
        return {"shown": self.shown, "accepted": self.accepted, "overridden": self.overridden,
                "noFeedback": self.shown - self.with_feedback}


@dataclass
class _Policy:
    cards: _Counts = field(default_factory=_Counts)
    lines: dict[str | None, _Counts] = field(default_factory=dict)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    without_reason: int = 0
    comments: int = 0


def card_stats(conn: Connection, *, since: datetime | None = None,
               reason_labels: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """``reason_labels`` fills in ``display`` for override reasons sent without one, keyed by
    (system, code) of the reasons our cards offer."""
    labels = reason_labels or {}
    policies: dict[PolicyKey, _Policy] = {}

    def policy(key: PolicyKey) -> _Policy:
        return policies.setdefault(key, _Policy())

    card = decision_card.c
    window = decision.c.recorded_at >= since if since is not None else None

    def cards_query(*columns: Any) -> Select[Any]:
        query = select(*columns).select_from(decision_card.join(
            decision, decision.c.id == card.decision_id))
        return query.where(window) if window is not None else query

    fb = feedback.c
    ranked = select(
        fb.card_uuid, fb.outcome, fb.override_system, fb.override_code, fb.override_display,
        func.row_number().over(partition_by=fb.card_uuid,
                               order_by=(fb.outcome_at.desc(), fb.id.desc())).label("rank"),
    ).where(fb.card_known.is_(True)).subquery()
    latest = select(ranked).where(ranked.c.rank == 1).subquery()

    def with_latest(query: Select[Any], *conditions: Any) -> Select[Any]:
        return query.join_from(decision_card, latest,
                               and_(latest.c.card_uuid == card.card_uuid, *conditions))

    group = (card.policy_id, card.policy_version, card.line_of_business)

    for pid, version, line, shown in conn.execute(
            cards_query(*group, func.count()).group_by(*group)):
        p = policy((pid, version))
        p.cards.shown += shown
        p.lines.setdefault(line, _Counts()).shown += shown

    for pid, version, line, outcome, n in conn.execute(
            with_latest(cards_query(*group, latest.c.outcome, func.count()))
            .group_by(*group, latest.c.outcome)):
        p = policy((pid, version))
        for counts in (p.cards, p.lines.setdefault(line, _Counts())):
            setattr(counts, outcome, getattr(counts, outcome) + n)
            counts.with_feedback += n

    reason = (latest.c.override_system, latest.c.override_code)
    for pid, version, system, code, display, n in conn.execute(
            with_latest(cards_query(card.policy_id, card.policy_version, *reason,
                                    func.max(latest.c.override_display), func.count()),
                        latest.c.outcome == "overridden")
            .group_by(card.policy_id, card.policy_version, *reason)):
        p = policy((pid, version))
        if code is None:
            p.without_reason += n
            continue
        shown_as = display or labels.get((system, code))
        p.reasons.append({k: v for k, v in (("system", system), ("code", code),
                                            ("display", shown_as), ("cards", n))
                          if v is not None})

    commented = and_(feedback.c.card_uuid == card.card_uuid, feedback.c.card_known.is_(True),
                     feedback.c.user_comment.is_not(None))
    for pid, version, n in conn.execute(
            cards_query(card.policy_id, card.policy_version,
                        func.count(distinct(card.card_uuid)))
            .join_from(decision_card, feedback, commented)
            .group_by(card.policy_id, card.policy_version)):
        policy((pid, version)).comments += n

    unknown = select(func.count()).select_from(feedback).where(feedback.c.card_known.is_(False))
    if since is not None:
        unknown = unknown.where(feedback.c.received_at >= since)

    return {
        "generatedAt": iso(utcnow()),
        **({"since": iso(since)} if since is not None else {}),
        "policies": [{
            "policy": {"id": pid, "version": version},
            "cards": p.cards.to_json(),
            "byLineOfBusiness": [{"lineOfBusiness": line, **counts.to_json()}
                                 for line, counts in sorted(p.lines.items(),
                                                            key=lambda kv: kv[0] or "")],
            "overrideReasons": sorted(p.reasons, key=lambda r: (-r["cards"], r["code"])),
            "overriddenWithoutReason": p.without_reason,
            "cardsWithComments": p.comments,
        } for (pid, version), p in sorted(policies.items())],
        "feedbackForUnknownCards": conn.execute(unknown).scalar_one(),
    }
