"""Coverage assertions on orders no policy matched: their policy columns may be empty.

Da Vinci CRD 2.2 (§hook-16, §resp-26): on a primary hook every in-scope order gets coverage
information, including orders no policy matches (the payer file's assertion), and those
assertions are recorded like the others.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coverage_assertion") as batch:
        batch.alter_column("policy_id", existing_type=sa.String(128), nullable=True)
        batch.alter_column("policy_version", existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    # Rows without a policy cannot satisfy the old constraint: they go first.
    op.execute("DELETE FROM coverage_assertion WHERE policy_id IS NULL")
    with op.batch_alter_table("coverage_assertion") as batch:
        batch.alter_column("policy_version", existing_type=sa.String(64), nullable=False)
        batch.alter_column("policy_id", existing_type=sa.String(128), nullable=False)
