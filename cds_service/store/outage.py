"""How a failed durable write is told (pure): ``write_failure`` is the one classification the
write path uses. Every failed write is an outage of the answer path, whatever its cause (a
missing table, a revoked privilege, a constraint, a lock, a full disk, a lost server): the call
gets 503 with ``Retry-After`` (no record, no answer: CRD §found-37), never 500, and ``/readyz``,
whose heartbeat makes the same writes, says "not ready" while the cause lasts. The label says
which cause, for the log and the metric: the tables below name the conditions an operator sees
most; anything else is named by its code or its exception type, never its message.

PostgreSQL reports the condition as an SQLSTATE (PostgreSQL 15 documentation, Appendix A
"PostgreSQL Error Codes"); psycopg raises an error without one when the connection itself is
lost. SQLite reports a primary result code (sqlite.org/rescode.html); Python's sqlite3 exposes
it as ``sqlite_errorcode``, possibly extended (the primary code is its low byte).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa

POSTGRES_CLASSES = {
    "08": "connection exception",
    "53": "insufficient resources (disk full, out of memory, too many connections)",
    "57": "operator intervention (statement timeout, server shutting down or starting)",
    "58": "system error (I/O error)",
}
POSTGRES_CODES = {
    "25006": "read-only transaction (a standby after failover)",
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "55P03": "lock not available",
}
SQLITE_CODES = {
    5: "SQLITE_BUSY",
    6: "SQLITE_LOCKED",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",
    10: "SQLITE_IOERR",
    11: "SQLITE_CORRUPT",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL",
}


def write_failure(error: BaseException) -> str:
    """The label of a failed write, for the log (never the error's message, which may quote
    values)."""
    known = outage(error)
    if known is not None:
        return known
    orig = getattr(error, "orig", None)
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        name = getattr(orig, "sqlite_errorname", None)
        return str(name or f"SQLite error {code}")
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return f"SQLSTATE {sqlstate}"
    return type(error).__name__


def outage(error: BaseException) -> str | None:
    """A short label for the log when ``error`` is an outage, else None. Never the error's
    message, which may quote values."""
    if isinstance(error, sa.TimeoutError):  # no pooled connection free in time
        return "pool timeout"
    if not isinstance(error, sa.DBAPIError):
        return None
    orig = error.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        name = SQLITE_CODES.get(code & 0xFF) if isinstance(code, int) else None
        return name
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:
        # psycopg's OperationalError without a server answer: the connection failed or broke.
        return "connection lost" if isinstance(error, sa.OperationalError) else None
    if sqlstate in POSTGRES_CODES or sqlstate[:2] in POSTGRES_CLASSES:
        return f"SQLSTATE {sqlstate}"
    return None
