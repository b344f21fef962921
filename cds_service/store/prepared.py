"""The hook path's statements, compiled once per database and run on the driver's own cursor.

Every hook call writes the same few statement shapes (its jti, its decision row and the rows
under it). Through ``Connection.execute`` each costs SQLAlchemy's per-statement work again
(cache-key lookup, execution context, result object): about 25 us of Python a statement on the
writer thread, with the interpreter lock held (bench/profile.py). Here SQLAlchemy still writes
the SQL text for the dialect and converts each value with its column's own bind processor, so
the text, the types and the stored form are exactly those of ``insert(table)``; only the
per-statement machinery is skipped. Statements run inside the caller's transaction (the
writer's ``Database.write()``), and a driver error is raised as SQLAlchemy's ``DBAPIError``
wrapper, as ``Connection.execute`` raises it, so ``outage.py`` classifies it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert, text
from sqlalchemy import exc as sa


@dataclass(frozen=True)
class Prepared:
    sql: str
    processors: tuple[tuple[str, Callable[[Any], Any], Any], ...]
    """(column, its bind processor, what the processor makes of None). None is converted once,
    here: a JSON column's processor serialises it with the json module on every call (``null``),
    and most rows of a call hold None in most of their JSON columns (an unmatched order's
    coverage assertion: four of them)."""

    def params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(row)
        for name, process, null in self.processors:
            value = params[name]
            params[name] = null if value is None else process(value)
        return params


def insert_statement(conn: Connection, table: Table, names: Sequence[str], *,
                     returning: str | None = None) -> Prepared:
    """``INSERT INTO table (names...)`` [``RETURNING returning``] for this connection's database."""
    return _insert(_named(conn.dialect), table, tuple(names), returning)


def text_statement(conn: Connection, sql: str) -> Prepared:
    """A literal statement with ``:name`` parameters, in the driver's parameter style."""
    return _text(_named(conn.dialect), sql)


def execute(conn: Connection, statement: Prepared, row: Mapping[str, Any]) -> int:
    """Run once; returns the number of rows affected."""
    with _driver_errors(conn, statement):
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(statement.sql, statement.params(row))
        count: int = cursor.rowcount
        cursor.close()
        return count


def execute_returning(conn: Connection, statement: Prepared, row: Mapping[str, Any]) -> Any:
    """Run once; returns the first value of the row its ``RETURNING`` clause gives back."""
    with _driver_errors(conn, statement):
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(statement.sql, statement.params(row))
        returned = cursor.fetchone()
        cursor.close()
        assert returned is not None, "RETURNING gave no row"
        return returned[0]


def execute_many(conn: Connection, statement: Prepared, rows: Sequence[Mapping[str, Any]],
                 ) -> None:
    with _driver_errors(conn, statement):
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(statement.sql, [statement.params(r) for r in rows])
        cursor.close()


@contextmanager
def _driver_errors(conn: Connection, statement: Prepared) -> Iterator[None]:
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise sa.DBAPIError.instance(statement.sql, None, exc, dbapi.Error,
                                     hide_parameters=True, dialect=conn.dialect) from exc


@cache
def _named(dialect: Dialect) -> Dialect:
    """The dialect, or for SQLite (whose driver also takes ``:name``) a copy in that style, so
    parameters are passed by name on every database."""
    if dialect.paramstyle in ("named", "pyformat"):
        return dialect
    # With the engine's JSON serializer (db.json_text), which the copy would otherwise lose.
    return type(dialect)(paramstyle="named",  # type: ignore[call-arg]
                         json_serializer=getattr(dialect, "_json_serializer", None))


@cache
def _insert(dialect: Dialect, table: Table, names: tuple[str, ...],
            returning: str | None) -> Prepared:
    statement = insert(table)
    if returning is not None:
        statement = statement.returning(table.c[returning])
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    processors = []
    for name in names:
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((name, process, process(None)))
    return Prepared(str(compiled), tuple(processors))


@cache
def _text(dialect: Dialect, sql: str) -> Prepared:
    return Prepared(str(text(sql).compile(dialect=dialect)), ())
