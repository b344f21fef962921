"""Which database errors mean "the records cannot be written now" (an outage: 503, not ready)
rather than a fault in our code or schema (500), as tables of error codes (pure).

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
