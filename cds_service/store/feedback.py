"""Feedback on our cards (CDS Hooks 2.0 §Feedback), stored once per distinct item.

The spec warns the endpoint "may be called for multiple hook instances or multiple cards at the
same time or even multiple times for a card or suggestion": each item gets a fingerprint of its
content, and an item already stored is counted as a duplicate, not stored again. Items whose
card uuid we never returned are kept too, flagged ``card_known = false``, so nothing a client
told us is lost while stats count only our cards.

A card is known only to the client it was answered to: same ``iss`` and same ``tenant`` (both
absent counts as the same). Feedback from any other client about it is treated exactly as
feedback about a card we never returned, so one EHR can neither learn that another EHR's card
exists nor count its clinicians' actions against it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Insert, RowMapping, select
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.auth.client import Client
from cds_service.hooks.feedback import FeedbackRequest
from cds_service.store.clock import iso
from cds_service.store.safe import safe_json, safe_text, storable
from cds_service.store.tables import decision, decision_card, feedback

log = logging.getLogger("cds_service.store")


@dataclass(frozen=True)
class FeedbackRecord:
    service_id: str
    client_iss: str
    client_tenant: str | None
    card_uuid: str
    outcome: str
    outcome_at: datetime
    accepted_suggestions: tuple[str, ...] | None
    override_system: str | None
    override_code: str | None
    override_display: str | None
    user_comment: str | None

    def fingerprint(self) -> str:
        """Same clinician action, same fingerprint; ``display`` is left out because clients
        differ on sending it (the sandbox omits it)."""
        content = [self.service_id, self.client_iss, self.client_tenant, self.card_uuid,
                   self.outcome, iso(self.outcome_at),
                   sorted(set(self.accepted_suggestions or ())),
                   self.override_system, self.override_code, self.user_comment]
        return hashlib.sha256(orjson.dumps(safe_json(content))).hexdigest()


@dataclass(frozen=True)
class FeedbackResult:
    received: int
    stored: int
    duplicates: int
    unknown_cards: int

    def to_json(self) -> dict[str, int]:
        return {"received": self.received, "stored": self.stored,
                "duplicates": self.duplicates, "unknownCards": self.unknown_cards}


def feedback_records(service_id: str, client: Client, request: FeedbackRequest,
                     shown: Mapping[tuple[str, str], str] | None = None,
                     ) -> list[FeedbackRecord]:
    """``shown``: the display of each override reason our cards offer, by (system, code). A
    reason sent without a display (the sandbox sends none) is stored with the one our card
    showed, so ``records stats`` names it whatever base URL it later runs with (the system is
    built from CDS_PUBLIC_BASE_URL)."""
    records = []
    for item in request.feedback:
        reason = item.override_reason.reason if item.override_reason else None
        display = reason.display if reason else None
        if reason and display is None and reason.system and reason.code:
            display = (shown or {}).get((reason.system, reason.code))
        records.append(FeedbackRecord(
            service_id=service_id,
            client_iss=client.iss,
            client_tenant=client.tenant,
            card_uuid=item.card,
            outcome=item.outcome,
            outcome_at=item.outcome_timestamp,
            accepted_suggestions=tuple(s.id for s in item.accepted_suggestions)
            if item.accepted_suggestions else None,
            override_system=reason.system if reason else None,
            override_code=reason.code if reason else None,
            override_display=display,
            user_comment=item.override_reason.user_comment if item.override_reason else None,
        ))
    return records


def save_feedback(conn: Connection, records: list[FeedbackRecord],
                  received_at: datetime) -> FeedbackResult:
    known = _known_cards(conn, records)
    insert_new = _insert_ignoring_duplicates(conn)
    stored = unknown = 0
    for r in records:
        card_known = (r.service_id, r.card_uuid) in known
        unknown += not card_known
        result = conn.execute(insert_new, storable(feedback, {
            "fingerprint": r.fingerprint(),
            "received_at": received_at,
            "service_id": r.service_id,
            "client_iss": r.client_iss,
            "client_tenant": r.client_tenant,
            "card_uuid": r.card_uuid,
            "card_known": card_known,
            "outcome": r.outcome,
            "outcome_at": r.outcome_at,
            "accepted_suggestions": list(r.accepted_suggestions)
            if r.accepted_suggestions is not None else None,
            "override_system": r.override_system,
            "override_code": r.override_code,
            "override_display": r.override_display,
            "user_comment": r.user_comment,
        }))
        # RETURNING rather than rowcount: psycopg reports -1 for a skipped ON CONFLICT insert.
        stored += result.first() is not None
    if unknown:
        # Only the count: for an unknown card the "uuid" is whatever the client sent, which need
        # not be one of our random ids. The items are stored, flagged, for support to look at.
        log.info("feedback: %d item(s) name cards this service did not return", unknown,
                 extra={"service": records[0].service_id})
    return FeedbackResult(len(records), stored, len(records) - stored, unknown)


def _known_cards(conn: Connection, records: list[FeedbackRecord]) -> set[tuple[str, str]]:
    """(service, card uuid) of the cards named in ``records`` that were answered to their
    client (one request's items all come from the same client)."""
    if not records:
        return set()
    # A uuid that is not storable as it is cannot be one of ours; made safe, it matches nothing.
    uuids = sorted({safe_text(r.card_uuid) for r in records})
    client = records[0]
    tenant = decision.c.client_tenant
    rows = conn.execute(
        select(decision.c.service_id, decision_card.c.card_uuid)
        .join(decision, decision.c.id == decision_card.c.decision_id)
        .where(decision_card.c.card_uuid.in_(uuids),
               decision.c.client_iss == safe_text(client.client_iss),
               tenant.is_(None) if client.client_tenant is None
               else tenant == safe_text(client.client_tenant)))
    return {(service, card) for service, card in rows}


def _insert_ignoring_duplicates(conn: Connection) -> Insert:
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(feedback).on_conflict_do_nothing(index_elements=["fingerprint"])
        return pg.returning(feedback.c.id)
    lite = sqlite.insert(feedback).on_conflict_do_nothing(index_elements=["fingerprint"])
    return lite.returning(feedback.c.id)


def feedback_for_cards(conn: Connection, card_uuids: Iterable[str]) -> list[RowMapping]:
    uuids = sorted(set(card_uuids))
    if not uuids:
        return []
    # Items of other clients naming the same uuid are not feedback on these cards.
    return list(conn.execute(
        _with_policy(select(feedback)).where(feedback.c.card_uuid.in_(uuids),
                                             feedback.c.card_known.is_(True))
        .order_by(feedback.c.received_at, feedback.c.id)).mappings())


def iter_feedback(conn: Connection, since: datetime | None = None) -> Iterator[RowMapping]:
    """Every stored item in the order received, streamed (a retention period is years)."""
    query = _with_policy(select(feedback))
    if since is not None:
        query = query.where(feedback.c.received_at >= since)
    query = query.order_by(feedback.c.received_at, feedback.c.id).execution_options(yield_per=500)
    yield from conn.execute(query).mappings()


def _with_policy(query: Any) -> Any:
    """Add the policy of the card the item is about (NULL for unknown cards)."""
    card = decision_card.alias("card")
    for column in ("policy_id", "policy_version"):
        query = query.add_columns(
            select(card.c[column]).where(card.c.card_uuid == feedback.c.card_uuid,
                                         feedback.c.card_known.is_(True))
            .order_by(card.c.decision_id.desc()).limit(1).scalar_subquery().label(column))
    return query


def feedback_json(row: RowMapping) -> dict[str, Any]:
    """An item as stored, in the wire format's shape plus what we know about it."""
    out: dict[str, Any] = {
        "receivedAt": iso(row["received_at"]),
        "service": row["service_id"],
        "card": row["card_uuid"],
        "cardKnown": row["card_known"],
        "outcome": row["outcome"],
        "outcomeTimestamp": iso(row["outcome_at"]),
    }
    if row["accepted_suggestions"] is not None:
        out["acceptedSuggestions"] = [{"id": s} for s in row["accepted_suggestions"]]
    override: dict[str, Any] = {}
    if row["override_code"] is not None:
        override["reason"] = {k: v for k, v in (
            ("system", row["override_system"]), ("code", row["override_code"]),
            ("display", row["override_display"])) if v is not None}
    if row["user_comment"] is not None:
        override["userComment"] = row["user_comment"]
    if override:
        out["overrideReason"] = override
    if row["policy_id"] is not None:
        out["policy"] = {"id": row["policy_id"], "version": row["policy_version"]}
    out["client"] = {k: v for k, v in (("iss", row["client_iss"]),
                                       ("tenant", row["client_tenant"])) if v is not None}
    return out
