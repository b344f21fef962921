"""The records schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Changes go through a new Alembic revision in ``migrations/versions``; a test checks that the
migrated database and these tables agree, on both databases.

    decision            one row per answered hook call (Da Vinci CRD §found-37: log every
                        invocation and its response)
    ├── decision_order      each draft order a policy matched: its codes, the policy, line of
    │                       business (and how it was found) and determination; orders no
    │                       policy matched are kept on the decision row (unmatched_orders)
    ├── decision_card       each card returned: uuid, suggestion uuids, policy, summary shown
    └── coverage_assertion  each coverage-information action: its coverage-assertion-id, which
                            comes back on the claim (CRD §1.6)
    feedback            CDS Hooks 2.0 §Feedback items, one row per distinct item
    jti_seen            JWT ids already used (CDS Hooks 2.0 §Trusting CDS Clients, replay)

What is kept is what an audit needs to show what we answered and why: identifiers, codes and
our own wording. Clinical resources are not stored (CRD §sec-5/6), nor any token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite only auto-numbers an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Always UTC: SQLite keeps no time zone, so values come back naive and are re-tagged."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; records are kept in UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


decision = Table(
    "decision", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("recorded_at", UTCDateTime(), nullable=False, index=True),
    Column("hook_instance", String(512), nullable=False, index=True),
    Column("service_id", String(128), nullable=False),
    Column("hook", String(128), nullable=False),
    Column("client_iss", String(1024), nullable=False),
    Column("client_tenant", String(512)),
    Column("client_jti", String(512)),
    Column("fhir_server", String(2048)),
    # Client options that shaped the answer (CRD version, coverage-info, card limits).
    Column("options", JSON(), nullable=False),
    # Relative URLs read from the EHR's FHIR server (what we looked at, not what we got).
    Column("fetched", JSON(), nullable=False),
    # Orders in scope that no policy matched: [{position, resourceType, id?, codes}]. Kept here,
    # one value instead of a row each, since nobody queries them by column (revision 0002).
    Column("unmatched_orders", JSON()),
    # The HTTP status answered: 200, or the 4xx of a refused call, with its OperationOutcome's
    # issues as [{code, expression}] (revision 0003).
    Column("status", Integer, nullable=False, server_default="200"),
    Column("problem", JSON()),
    # The Da Vinci CRD release the answer was shaped for ("2.0.1", "2.1", "2.2"), so a dispute
    # reads the answer in its client's vocabulary; NULL for a refused call (revision 0006).
    Column("crd_version", String(16)),
)

decision_order = Table(
    "decision_order", metadata,
    Column("decision_id", Id, ForeignKey("decision.id", ondelete="CASCADE"), primary_key=True),
    # Index in context.draftOrders.entry.
    Column("position", Integer, primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(256)),
    # [[system, code], ...] of the order's code and billing options.
    Column("codes", JSON(), nullable=False),
    Column("policy_id", String(128)),
    Column("policy_version", String(64)),
    Column("matched_system", String(256)),
    Column("matched_code", String(64)),
    Column("coverage_found", Boolean()),
    Column("coverage_reference", String(256)),
    Column("line_of_business", String(64)),
    Column("line_basis", Text()),
    Column("indications", JSON()),
    # Da Vinci CRD coverage-information ``covered`` code, when the policy decides for the line.
    Column("covered", String(32)),
    # Paths of elements FHIR R4 does not define, ignored while reading the order (CRD §found-33);
    # names only, never values (revision 0005).
    Column("ignored_elements", JSON()),
)

decision_card = Table(
    "decision_card", metadata,
    Column("decision_id", Id, ForeignKey("decision.id", ondelete="CASCADE"), primary_key=True),
    # Index in the response's cards.
    Column("position", Integer, primary_key=True),
    Column("card_uuid", String(128), nullable=False, index=True),
    Column("order_position", Integer, nullable=False),
    Column("policy_id", String(128), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("line_of_business", String(64)),
    Column("topic", String(64)),
    Column("indicator", String(16), nullable=False),
    Column("summary", String(256), nullable=False),
    Column("suggestion_uuids", JSON(), nullable=False),
)

coverage_assertion = Table(
    "coverage_assertion", metadata,
    Column("decision_id", Id, ForeignKey("decision.id", ondelete="CASCADE"), primary_key=True),
    # Index in the response's systemActions.
    Column("position", Integer, primary_key=True),
    Column("assertion_id", String(128), nullable=False, index=True),
    Column("order_position", Integer, nullable=False),
    Column("coverage_reference", String(256), nullable=False),
    Column("covered", String(32), nullable=False),
    # Empty for the payer file's assertion on an order no policy matched (revision 0004).
    Column("policy_id", String(128)),
    Column("policy_version", String(64)),
    # The other coded answers of CRD coverage information (revision 0007): pa-needed, and the
    # lists doc-needed, doc-purpose, info-needed (NULL when empty); further policies combined
    # into this assertion, [{"id", "version"}].
    Column("pa_needed", String(32)),
    Column("doc_needed", JSON()),
    Column("doc_purpose", JSON()),
    Column("info_needed", JSON()),
    Column("other_policies", JSON()),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # sha256 of the item's content: a repeated item is stored once (CDS Hooks 2.0 §Feedback:
    # the endpoint "may be called ... even multiple times for a card or suggestion").
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("received_at", UTCDateTime(), nullable=False, index=True),
    Column("service_id", String(128), nullable=False),
    Column("client_iss", String(1024), nullable=False),
    Column("client_tenant", String(512)),
    Column("card_uuid", String(512), nullable=False, index=True),
    # False when no recorded card of this service has the uuid: kept, and shown apart.
    Column("card_known", Boolean(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_at", UTCDateTime(), nullable=False),
    Column("accepted_suggestions", JSON()),
    Column("override_system", String(1024)),
    Column("override_code", String(256)),
    Column("override_display", String(1024)),
    Column("user_comment", Text()),
)

jti_seen = Table(
    "jti_seen", metadata,
    # sha256 of (iss, jti): fixed size whatever the client puts in its claims.
    Column("digest", String(64), primary_key=True),
    # Epoch seconds after which the id may be forgotten.
    Column("expires_at", BigInteger(), nullable=False, index=True),
)
