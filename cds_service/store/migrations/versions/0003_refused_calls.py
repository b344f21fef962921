"""Hook calls we refused are recorded too: the status we answered and what was wrong.

Da Vinci CRD §found-37 asks to log every hook invocation and its response; until now only calls
answered 200 had a decision record, refusals only a log line.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("status", sa.Integer(), nullable=False, server_default="200"))
        # [{code, expression}] of the OperationOutcome we answered; no diagnostics text, which
        # can quote what the caller sent.
        batch.add_column(sa.Column("problem", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("problem")
        batch.drop_column("status")
