"""The records database: engine, transactions, and the schema version check.

Two back-ends, chosen by ``CDS_DATABASE_URL``:

- SQLite (the default, ``sqlite:///var/cds-service.db``): one embedded file for a single host.
  WAL journal so readers never block the writer, checkpointed by a thread of its own
  (``checkpoint.py``); ``synchronous=FULL`` so a commit is on disk before the hook call is
  answered (WAL's usual NORMAL may lose the last commits on power loss);
  every write transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
  timeout instead of failing when a read lock cannot be upgraded.
- PostgreSQL through psycopg 3 (``postgresql+psycopg://user:pw@host/db``) when several instances
  answer for the same clients and must share records and the JWT replay store.

The schema is owned by the Alembic revisions in ``migrations/`` (``cds-service db upgrade``).
Start-up refuses a database whose schema is not the code's head, except SQLite, which is
created or upgraded in place so the quick start needs nothing else.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from cds_service.config import DATABASE_URL_FORM
from cds_service.errors import ConfigurationError

log = logging.getLogger("cds_service.store")
# Alembic announces its SQLite/PostgreSQL implementation each time a schema version is read (at
# every start, in every worker); upgrades are logged by Database.upgrade instead.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
BACKSTOP_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""The log file is cut back to this size when it restarts. Without a limit it keeps the largest
size it ever reached (a long read can hold checkpoints off, and the log grows meanwhile). Under
load its usual high-water mark is well below: about 6 MB for one-order calls and 20 MB for
50-order calls at 8 connections (bench/); cutting it to less would make the next commits
extend the file again, which costs each of their flushes a metadata write."""
POSTGRES_POOL_SIZE = 10
"""Connections per process; with several workers and instances, keep the sum under the
server's max_connections (PostgreSQL's default is 100)."""
_SETTING = "CDS_DATABASE_URL"
_MIGRATION_LOCK = 0x6364735F7265  # any fixed bigint: "cds_re"
_READ_ONLY = "cds_read_only"


@dataclass(frozen=True)
class Timeouts:
    """Bounds on waiting for the database (the service sets them from CDS_DATABASE_*; the
    ``db`` and ``records`` commands keep these defaults: a migration or purge may be long)."""

    connect: int = 10
    """Seconds to open a PostgreSQL connection (libpq: at least 2), or to wait for a pooled one."""
    statement: float | None = None
    """Seconds one statement may run on the server (PostgreSQL statement_timeout, lock waits
    included; SQLite's busy wait for another process's lock); None: no limit, and SQLite waits
    SQLITE_BUSY_TIMEOUT_SECONDS."""


class Database:
    """One engine per process; connections come from its pool, one per thread at a time.

    Engines hide statement parameters from error messages: a failed insert must not copy
    record contents into the service log.
    """

    def __init__(self, url: str, timeouts: Timeouts | None = None) -> None:
        self.url = _parse(url)
        self.timeouts = timeouts or Timeouts()
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            _sqlite_path(self.url)  # refuse an unusable URL now, not at first use
        self._engine: Engine | None = None
        # SQLite has one writer at a time. Threads of this process queue on the thread lock,
        # processes (workers) on an advisory lock on a file beside the database; both wake the
        # next writer as soon as the last one commits. Left to SQLite's busy handler they would
        # poll with sleeps of up to 100 ms, which cut throughput several-fold under load and
        # put whole seconds on p99 with two workers (bench/).
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._lock_file = (str(_sqlite_path(self.url)) + ".write-lock") if self.is_sqlite \
            else None

    @property
    def engine(self) -> Engine:
        # Created on first use, so building a Runtime touches no file and opens no socket.
        if self._engine is None:
            self._engine = _sqlite_engine(self.url, self.timeouts) if self.is_sqlite \
                else _postgres_engine(self.url, self.timeouts)
        return self._engine

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self, on: Connection | None = None) -> Iterator[Connection]:
        """One transaction, committed when the block ends (rolled back if it raises), on a
        connection of the pool or on ``on``, one the caller holds (the records writer's).
        Never open one inside another: on SQLite the second would wait for the first."""
        if self._write_lock is None:
            with _transaction(self.engine, on) as conn:
                yield conn
            return
        assert self._lock_file is not None
        engine = self.engine  # first use creates the file's directory, where the lock lives
        with self._write_lock, _process_lock(self._lock_file), _transaction(engine, on) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot that takes no write lock (SQLite: a deferred BEGIN)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_READ_ONLY: True})
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def unreachable(self, exc: OperationalError) -> ConfigurationError:
        """The database cannot be used, in one line (psycopg's messages span several): psycopg
        and sqlite3 name host, port or file, never the password."""
        return ConfigurationError(f"{_SETTING} ({self.describe()})", [
            f"cannot open the records database: {' '.join(str(exc.orig).split())}"])

    # --- schema ------------------------------------------------------------------------------

    def head(self) -> str:
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert head is not None, "no migrations shipped"
        return head

    def current(self) -> str | None:
        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self) -> tuple[str | None, str]:
        """Apply every pending revision in one transaction; returns (before, after)."""
        with self.write() as conn:
            if not self.is_sqlite:
                # Two upgrades at once (a retried migration job, an operator) queue here
                # instead of both creating the same tables; SQLite's BEGIN IMMEDIATE does this.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        after = self.head()
        if before != after:
            log.info("records database upgraded from %s to %s", before or "empty", after,
                     extra={"database": self.describe()})
        return before, after

    def check(self, *, auto_upgrade: bool) -> None:
        """Refuse to run on a schema other than the code's head (upgrading it if allowed)."""
        try:
            current, head = self.current(), self.head()
        except OperationalError as exc:
            raise self.unreachable(exc) from None
        if current == head:
            return
        scripts = ScriptDirectory.from_config(_alembic_config())
        known = {r.revision for r in scripts.walk_revisions()}
        if current is not None and current not in known:
            raise ConfigurationError(f"{_SETTING} ({self.describe()})", [
                f"the database schema is at revision {current!r}, which this version of "
                f"cds-service does not know (its newest is {head!r}); the database was upgraded "
                "by a newer release: run that release, or restore a matching backup"])
        if auto_upgrade:
            self.upgrade()
            return
        state = f"schema is at revision {current!r}" if current else "has no schema yet"
        raise ConfigurationError(f"{_SETTING} ({self.describe()})", [
            f"the database {state}; this version of cds-service needs revision {head!r}: "
            f"run `cds-service db upgrade` with the same {_SETTING}, then start again"])


@contextmanager
def _transaction(engine: Engine, on: Connection | None) -> Iterator[Connection]:
    if on is None:
        with engine.begin() as conn:
            yield conn
    else:
        with on.begin():
            yield on


@contextmanager
def _process_lock(path: str) -> Iterator[None]:
    """An exclusive advisory lock (flock) shared by every process writing the SQLite file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def prepare(url: str) -> None:
    """Start-up check, once before any worker starts: an SQLite file is created or brought up
    to date (so workers never race to migrate it); any other database must already be at head."""
    db = Database(url)
    try:
        db.check(auto_upgrade=db.is_sqlite)
    finally:
        db.dispose()


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(_SETTING, [f"not a database URL; expected {DATABASE_URL_FORM}"]) \
            from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        # psycopg 3 is the driver we ship; a bare postgresql:// would ask for psycopg2.
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigurationError(_SETTING, [
        f"unsupported database {parsed.drivername!r}; expected {DATABASE_URL_FORM}"])


def _sqlite_path(url: URL) -> Path:
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:") or url.query.get("mode"):
        raise ConfigurationError(_SETTING, [
            "records need a SQLite file (sqlite:///path/to/file.db): an in-memory database "
            "would lose them on restart; set CDS_RECORD_DECISIONS=false to run without records"])
    return Path(path)


def _sqlite_engine(url: URL, timeouts: Timeouts) -> Engine:
    _create_private(_sqlite_path(url), url)
    busy = timeouts.statement if timeouts.statement is not None else SQLITE_BUSY_TIMEOUT_SECONDS
    engine = create_engine(url, hide_parameters=True, connect_args={"timeout": busy},
                           json_serializer=json_text)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (its legacy mode starts no transaction for
        # SELECT or DDL), and emit it ourselves in _begin (SQLAlchemy "sqlite_transactions").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            # Checkpoints are the checkpoint thread's (checkpoint.py); a commit makes one only
            # should the log ever grow past this many pages (about 40 MB).
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        # On the driver's connection: every hook call's write begins here, and a statement
        # through SQLAlchemy costs more than SQLite's own work for it (store/prepared.py).
        statement = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        try:
            conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]
        except sqlite3.Error as exc:  # raised as Connection.execute raises it (outage.py)
            raise DBAPIError.instance(statement, None, exc, sqlite3.Error, hide_parameters=True,
                                      dialect=conn.dialect) from exc

    return engine


def _create_private(path: Path, url: URL) -> None:
    """The records hold patient data: a new database file (and so its WAL and shared-memory
    files, which SQLite creates with the database file's permissions) and a new directory are
    for the service's own user only, whatever the umask."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # an existing database keeps the permissions its operator gave it
    except OSError as exc:
        raise ConfigurationError(f"{_SETTING} ({url.render_as_string(hide_password=True)})", [
            f"cannot create the SQLite database {path}: {exc.strerror or exc}; expected a file "
            "in a directory this user may create or write"]) from None


def _postgres_engine(url: URL, timeouts: Timeouts) -> Engine:
    # A fixed pool and no overflow: under load, threads queue for a connection instead of
    # opening and closing extra ones (a new PostgreSQL session costs a process fork and a SCRAM
    # exchange, several times a whole hook call; bench/recording.py). pre_ping: a connection
    # dropped by a server restart or failover is replaced instead of failing a hook call.
    connect: dict[str, Any] = {"connect_timeout": timeouts.connect,
                               "application_name": "cds-service"}
    if timeouts.statement is not None:
        millis = math.ceil(timeouts.statement * 1000)
        given = url.query.get("options")  # an operator's own -c settings in the URL are kept
        connect.update(
            options=" ".join([*([given] if isinstance(given, str) else given or ()),
                              f"-c statement_timeout={millis}"]),
            # A server that vanishes (host down, network cut, no reset sent) would leave a
            # statement waiting for TCP's own give-up, about 15 minutes: drop the connection
            # once sent data stays unacknowledged, or the idle link stops answering keepalives,
            # for about the statement timeout.
            tcp_user_timeout=millis, keepalives=1,
            keepalives_idle=max(1, math.ceil(timeouts.statement)), keepalives_interval=1,
            keepalives_count=3)
    return create_engine(url, pool_size=POSTGRES_POOL_SIZE, max_overflow=0,
                         pool_timeout=timeouts.connect, pool_pre_ping=True, hide_parameters=True,
                         connect_args=connect, json_serializer=json_text)


def json_text(value: Any) -> str:
    """The text of a JSON column. orjson writes the dozen JSON values of each call's record in
    a fifth of the standard library's CPU, on the writer thread (bench/profile.py). It refuses
    integers past 64 bits, which a caller may send: those fall back to ``json.dumps``, so no
    record is lost to its contents."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
