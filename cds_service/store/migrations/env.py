"""Alembic environment: migrations run on the connection ``Database.upgrade`` hands over.

Run them with ``cds-service db upgrade`` (or let the service upgrade its embedded SQLite file);
the connection arrives inside a transaction, so every pending revision commits or none does.
"""

from __future__ import annotations

from alembic import context

from cds_service.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the records migrations with `cds-service db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
