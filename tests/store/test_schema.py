"""The schema: migrations build what tables.py describes, and start-up refuses a database that is
not at the code's head (SQLite excepted: it is brought up to date in place)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from cds_service.errors import ConfigurationError
from cds_service.store.db import Database, prepare
from cds_service.store.tables import metadata


def test_upgrade_builds_exactly_the_tables_the_code_uses(db: Database) -> None:
    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == db.head()


def test_upgrade_twice_changes_nothing(db: Database) -> None:
    assert db.upgrade() == (db.head(), db.head())


def test_a_database_without_schema_is_refused_with_the_command_to_run(
        database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(ConfigurationError) as refused:
            db.check(auto_upgrade=False)
        message = str(refused.value)
        assert "CDS_DATABASE_URL" in message and "cds-service db upgrade" in message
        assert "has no schema yet" in message
    finally:
        db.dispose()


def test_a_database_upgraded_by_a_newer_release_is_refused(db: Database) -> None:
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    with pytest.raises(ConfigurationError, match="newer release"):
        # 'older' is no revision we ship: a database from some other release line.
        db.check(auto_upgrade=False)


def test_an_empty_sqlite_file_is_created_and_migrated_at_start_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'records.db'}"
    prepare(url)
    assert (tmp_path / "var" / "records.db").exists()
    db = Database(url)
    try:
        db.check(auto_upgrade=False)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_postgres_is_never_migrated_behind_the_operators_back(postgres_url: str) -> None:
    with pytest.raises(ConfigurationError, match="cds-service db upgrade"):
        prepare(postgres_url)
    db = Database(postgres_url)
    try:
        assert db.current() is None
    finally:
        db.dispose()


def test_the_password_never_appears_in_messages() -> None:
    db = Database("postgresql+psycopg://cds:s3cret@db.invalid:5432/cds")
    assert "s3cret" not in db.describe()


def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'records.db'}")
    try:
        with db.read() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        db.dispose()


def test_sqlite_writes_take_the_write_lock_up_front(tmp_path: Path) -> None:
    # BEGIN IMMEDIATE: a second writer waits on the busy timeout instead of failing mid-way.
    db = Database(f"sqlite:///{tmp_path / 'records.db'}")
    try:
        with db.write() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
            raw = conn.connection.dbapi_connection
            assert raw is not None and raw.in_transaction
    finally:
        db.dispose()


@pytest.mark.parametrize("url, drivername", [
    ("postgresql://u:p@h/d", "postgresql+psycopg"),
    ("postgres://u:p@h/d", "postgresql+psycopg"),
    ("postgresql+psycopg://u:p@h/d", "postgresql+psycopg"),
    ("sqlite:///var/x.db", "sqlite"),
])
def test_accepted_urls(url: str, drivername: str) -> None:
    assert Database(url).url.drivername == drivername


@pytest.mark.parametrize("url, problem", [
    ("mysql://u:p@h/d", "unsupported database"),
    ("postgresql+psycopg2://u:p@h/d", "unsupported database"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("not a url", "not a database URL"),
])
def test_refused_urls(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        Database(url)


def test_migrations_ship_inside_the_package() -> None:
    from cds_service.store import db as db_module

    versions = db_module.MIGRATIONS / "versions"
    assert (db_module.MIGRATIONS / "env.py").is_file()
    assert any(p.suffix == ".py" and p.name != "__init__.py" for p in versions.iterdir())


def test_the_schema_has_the_tables_the_records_need(db: Database) -> None:
    with db.read() as conn:
        names = set(inspect(conn).get_table_names())
    assert {"decision", "decision_order", "decision_card", "coverage_assertion", "feedback",
            "jti_seen", "alembic_version"} <= names


def test_an_unreachable_database_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as refused:
        prepare("postgresql+psycopg://cds:s3cret@127.0.0.1:1/cds")
    assert "cannot open the records database" in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_concurrent_upgrades_queue_and_both_succeed(database_url: str) -> None:
    # A retried migration job racing the first one must not fail on "table already exists".
    from concurrent.futures import ThreadPoolExecutor

    def upgrade(_: int) -> tuple[str | None, str]:
        db = Database(database_url)
        try:
            return db.upgrade()
        finally:
            db.dispose()

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(upgrade, range(3)))
    head = results[0][1]
    assert sorted(before or "" for before, _ in results) == ["", head, head]


def test_the_sqlite_database_and_its_wal_files_are_readable_by_the_service_user_only(
        tmp_path: Path) -> None:
    path = tmp_path / "var" / "records.db"
    previous = os.umask(0o022)  # the usual umask, which would make new files world-readable
    try:
        prepare(f"sqlite:///{path}")
        db = Database(f"sqlite:///{path}")
        with db.write() as conn:  # an open write transaction: the WAL and SHM files exist
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        db.dispose()
    finally:
        os.umask(previous)
    assert modes == {"records.db": 0o600, "records.db-wal": 0o600, "records.db-shm": 0o600}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_sqlite_directory_that_cannot_be_created_is_a_configuration_error(
        tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    url = f"sqlite:///{tmp_path / 'a-file' / 'var' / 'records.db'}"
    with pytest.raises(ConfigurationError) as refused:
        prepare(url)
    assert refused.value.source.startswith("CDS_DATABASE_URL")
    assert "cannot create the SQLite database" in str(refused.value)
