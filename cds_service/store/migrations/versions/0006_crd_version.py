"""Each decision records the Da Vinci CRD release its answer was shaped for.

The service answers CRD 2.0.1, 2.1 and 2.2 clients, each in its own codes (cds_service/
crd_versions.py): the same determination reads ``conditional`` to a 2.0.1 client and
``indeterminate`` to a 2.2 one, so a dispute needs to know which was sent. Earlier rows have it
only inside ``options`` (crdVersion); they keep NULL here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("crd_version", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("crd_version")
