"""Storage fixtures (see databases.py): every test taking ``database_url``, ``migrated_url`` or
``db`` runs once on SQLite and once on PostgreSQL."""

from tests.store.databases import database_url, db, migrated_url, postgres_url

__all__ = ["database_url", "db", "migrated_url", "postgres_url"]
