"""Matched orders note the elements FHIR R4 does not define that reading them ignored.

Da Vinci CRD 2.2 §found-33: unexpected elements SHALL be ignored. An EHR's local element no longer
refuses the call; the record keeps their paths (element names, never values) so a dispute can see
what the decision did not look at.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision_order") as batch:
        # ["ServiceRequest.code.coding[0].localFlag", ...]; NULL when nothing was ignored.
        batch.add_column(sa.Column("ignored_elements", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("decision_order") as batch:
        batch.drop_column("ignored_elements")
