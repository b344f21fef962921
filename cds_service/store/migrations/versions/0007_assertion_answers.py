"""Coverage assertions keep every coded answer, not only ``covered`` (issue 17).

Da Vinci CRD coverage information: ``pa-needed``, ``doc-needed``, ``doc-purpose`` and
``info-needed`` are what a claim is later held to (CRD §found-11: the payer SHALL honour its
guidance at adjudication), so the record keeps them; and an order several policies decided on
names the others beside the deciding one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coverage_assertion") as batch:
        batch.add_column(sa.Column("pa_needed", sa.String(32)))
        # ["clinical", ...], ["withpa", ...], ["OTH", "location", ...]; NULL when none.
        batch.add_column(sa.Column("doc_needed", sa.JSON()))
        batch.add_column(sa.Column("doc_purpose", sa.JSON()))
        batch.add_column(sa.Column("info_needed", sa.JSON()))
        # [{"id": ..., "version": ...}] of further policies combined into the assertion.
        batch.add_column(sa.Column("other_policies", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("coverage_assertion") as batch:
        for name in ("other_policies", "info_needed", "doc_purpose", "doc_needed", "pa_needed"):
            batch.drop_column(name)
