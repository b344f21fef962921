"""Orders no policy matched are kept on the decision row, not one row each.

A 50-order call that matches nothing wrote 51 rows; it now writes one (bench/: the record was
most of such a call's cost). Matched orders keep their ``decision_order`` rows, whose columns
payer staff query.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_decision = sa.table("decision", sa.column("id"), sa.column("unmatched_orders", sa.JSON()))
_order = sa.table("decision_order", sa.column("decision_id"), sa.column("position"),
                  sa.column("resource_type"), sa.column("resource_id"),
                  sa.column("codes", sa.JSON()), sa.column("policy_id"))


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("unmatched_orders", sa.JSON()))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_order.c.decision_id, _order.c.position, _order.c.resource_type,
                  _order.c.resource_id, _order.c.codes)
        .where(_order.c.policy_id.is_(None))
        .order_by(_order.c.decision_id, _order.c.position)).all()
    moved: dict[int, list[dict[str, object]]] = {}
    for row in rows:
        moved.setdefault(row.decision_id, []).append(_inline(row.position, row.resource_type,
                                                             row.resource_id, row.codes))
    for decision_id, orders in moved.items():
        conn.execute(sa.update(_decision).where(_decision.c.id == decision_id)
                     .values(unmatched_orders=orders))
    conn.execute(sa.delete(_order).where(_order.c.policy_id.is_(None)))


def downgrade() -> None:
    conn = op.get_bind()
    for decision_id, orders in conn.execute(
            sa.select(_decision.c.id, _decision.c.unmatched_orders)
            .where(_decision.c.unmatched_orders.is_not(None))).all():
        if orders:
            conn.execute(sa.insert(_order), [{
                "decision_id": decision_id, "position": o["position"],
                "resource_type": o["resourceType"], "resource_id": o.get("id"),
                "codes": o["codes"], "policy_id": None} for o in orders])
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("unmatched_orders")


def _inline(position: int, resource_type: str, resource_id: str | None,
            codes: list[list[str]]) -> dict[str, object]:
    entry: dict[str, object] = {"position": position, "resourceType": resource_type,
                                "codes": codes}
    if resource_id is not None:
        entry["id"] = resource_id
    return entry
