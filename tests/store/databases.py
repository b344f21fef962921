"""The two databases every storage test runs on: an SQLite file and a real PostgreSQL server.

PostgreSQL comes from ``CDS_TEST_POSTGRES_URL`` (``.ci/run`` starts a server and sets it); each
test gets a database of its own, created and dropped around it. Without the variable the
``postgres`` cases skip, except under CI (``CI=true``), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cds_service.store.db import Database

POSTGRES_ENV = "CDS_TEST_POSTGRES_URL"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the PostgreSQL tests (.ci/run "
                    "starts a server)")
    pytest.skip(f"{POSTGRES_ENV} is not set")


def new_postgres_database() -> tuple[str, str]:
    """(url of a new empty database, its name)."""
    server = make_url(postgres_server_url()).set(drivername="postgresql+psycopg")
    name = f"cds_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(name: str) -> None:
    server = make_url(postgres_server_url()).set(drivername="postgresql+psycopg")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    url, name = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database (for behaviour that differs from SQLite)."""
    url, name = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """The same database with the schema at head (as ``cds-service db upgrade`` leaves it)."""
    db = Database(database_url)
    try:
        db.upgrade()
    finally:
        db.dispose()
    return database_url


@pytest.fixture
def db(migrated_url: str) -> Iterator[Database]:
    database = Database(migrated_url)
    try:
        yield database
    finally:
        database.dispose()
