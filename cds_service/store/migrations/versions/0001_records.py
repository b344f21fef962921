"""Decision records, feedback and the JWT replay store.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Written out rather than taken from tables.py, so this revision keeps creating the schema it
# created on its first day whatever tables.py later becomes.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decision",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hook_instance", sa.String(512), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook", sa.String(128), nullable=False),
        sa.Column("client_iss", sa.String(1024), nullable=False),
        sa.Column("client_tenant", sa.String(512)),
        sa.Column("client_jti", sa.String(512)),
        sa.Column("fhir_server", sa.String(2048)),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("fetched", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decision"),
    )
    op.create_index("ix_decision_recorded_at", "decision", ["recorded_at"])
    op.create_index("ix_decision_hook_instance", "decision", ["hook_instance"])

    op.create_table(
        "decision_order",
        sa.Column("decision_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(256)),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("policy_id", sa.String(128)),
        sa.Column("policy_version", sa.String(64)),
        sa.Column("matched_system", sa.String(256)),
        sa.Column("matched_code", sa.String(64)),
        sa.Column("coverage_found", sa.Boolean()),
        sa.Column("coverage_reference", sa.String(256)),
        sa.Column("line_of_business", sa.String(64)),
        sa.Column("line_basis", sa.Text()),
        sa.Column("indications", sa.JSON()),
        sa.Column("covered", sa.String(32)),
        sa.PrimaryKeyConstraint("decision_id", "position", name="pk_decision_order"),
        sa.ForeignKeyConstraint(["decision_id"], ["decision.id"], ondelete="CASCADE",
                                name="fk_decision_order_decision_id_decision"),
    )

    op.create_table(
        "decision_card",
        sa.Column("decision_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("order_position", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("line_of_business", sa.String(64)),
        sa.Column("topic", sa.String(64)),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(256), nullable=False),
        sa.Column("suggestion_uuids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", "position", name="pk_decision_card"),
        sa.ForeignKeyConstraint(["decision_id"], ["decision.id"], ondelete="CASCADE",
                                name="fk_decision_card_decision_id_decision"),
    )
    op.create_index("ix_decision_card_card_uuid", "decision_card", ["card_uuid"])

    op.create_table(
        "coverage_assertion",
        sa.Column("decision_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("assertion_id", sa.String(128), nullable=False),
        sa.Column("order_position", sa.Integer(), nullable=False),
        sa.Column("coverage_reference", sa.String(256), nullable=False),
        sa.Column("covered", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", "position", name="pk_coverage_assertion"),
        sa.ForeignKeyConstraint(["decision_id"], ["decision.id"], ondelete="CASCADE",
                                name="fk_coverage_assertion_decision_id_decision"),
    )
    op.create_index("ix_coverage_assertion_assertion_id", "coverage_assertion",
                    ["assertion_id"])

    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("client_iss", sa.String(1024), nullable=False),
        sa.Column("client_tenant", sa.String(512)),
        sa.Column("card_uuid", sa.String(512), nullable=False),
        sa.Column("card_known", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON()),
        sa.Column("override_system", sa.String(1024)),
        sa.Column("override_code", sa.String(256)),
        sa.Column("override_display", sa.String(1024)),
        sa.Column("user_comment", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("fingerprint", name="uq_feedback_fingerprint"),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])

    op.create_table(
        "jti_seen",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_jti_seen"),
    )
    op.create_index("ix_jti_seen_expires_at", "jti_seen", ["expires_at"])


def downgrade() -> None:
    for table in ("jti_seen", "feedback", "coverage_assertion", "decision_card",
                  "decision_order", "decision"):
        op.drop_table(table)
