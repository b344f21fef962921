"""``cds-service db ...`` (schema) and ``cds-service records ...`` (reading back, retention).

All of them use ``CDS_DATABASE_URL`` as the service does. Output is JSON on stdout (JSON lines
for feedback, which can be long), messages on stderr; a coverage-assertion-id we never issued
exits 1, a configuration problem 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import OperationalError

from cds_service.config import Settings
from cds_service.errors import ConfigurationError
from cds_service.store.clock import parse_since, utcnow
from cds_service.store.db import Database
from cds_service.store.decisions import decisions_with_assertion, load_decision
from cds_service.store.feedback import feedback_json, iter_feedback
from cds_service.store.retention import cutoff, purge
from cds_service.store.stats import card_stats, reason_labels


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="create, upgrade or check the records database schema "
                                   "(CDS_DATABASE_URL)")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_actions.add_parser(
        "upgrade", help="apply pending migrations (run before starting a new version)",
    ).set_defaults(func=_db_upgrade)
    db_actions.add_parser(
        "check", help="exit 0 if the schema is the one this version needs, 1 if not",
    ).set_defaults(func=_db_check)

    records = sub.add_parser(
        "records", help="read decision records, feedback and statistics; purge old records")
    actions = records.add_subparsers(dest="action", required=True)
    decision = actions.add_parser(
        "decision", help="the decision that returned a coverage-assertion-id (JSON)")
    decision.add_argument("assertion_id", metavar="coverage-assertion-id",
                          help="the id of a coverage-information assertion we put on an order "
                               "(it comes back on the claim)")
    decision.set_defaults(func=_decision)

    feedback = actions.add_parser("feedback", help="feedback items received (JSON lines)")
    feedback.add_argument("--since", type=_since,
                          help="ISO 8601 date or date-time (UTC) (default: all feedback)")
    feedback.set_defaults(func=_feedback)

    stats = actions.add_parser(
        "stats", help="per policy: cards shown, accepted, overridden, override reasons (JSON)")
    stats.add_argument("--since", type=_since,
                       help="count cards returned from this ISO 8601 date or date-time (UTC) "
                            "(default: all cards)")
    stats.set_defaults(func=_stats)

    purge_cmd = actions.add_parser(
        "purge", help="delete records older than CDS_RETENTION_DAYS (and expired JWT ids)")
    purge_cmd.add_argument("--days", type=_positive, default=None,
                           help="retention in days (default: CDS_RETENTION_DAYS)")
    purge_cmd.set_defaults(func=_purge)


def _since(value: str) -> datetime:
    try:
        return parse_since(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or date-time: {value!r}") from None


def _positive(value: str) -> int:
    # At most 100 years: further back than any date there is to compare with.
    if not value.isdigit() or not 1 <= int(value) <= 36500:
        raise argparse.ArgumentTypeError(f"a whole number of days, 1 to 36500: {value!r}")
    return int(value)


# --- db ----------------------------------------------------------------------------------------

def _db_upgrade(args: argparse.Namespace) -> int:
    db = Database(Settings().database_url)
    try:
        with _reachable(db):
            before, after = db.upgrade()
    finally:
        db.dispose()
    if before == after:
        print(f"{db.describe()}: already at revision {after}", file=sys.stderr)
    else:
        print(f"{db.describe()}: upgraded from {before or 'empty'} to revision {after}",
              file=sys.stderr)
    return 0


def _db_check(args: argparse.Namespace) -> int:
    db = Database(Settings().database_url)
    try:
        with _reachable(db):
            current, head = (None if _missing_sqlite_file(db) else db.current()), db.head()
    finally:
        db.dispose()
    if current == head:
        print(f"{db.describe()}: at revision {head}", file=sys.stderr)
        return 0
    print(f"{db.describe()}: at revision {current or 'none (empty)'}, this version needs "
          f"{head}; run `cds-service db upgrade`", file=sys.stderr)
    return 1


# --- records -----------------------------------------------------------------------------------

def _decision(args: argparse.Namespace) -> int:
    def run(db: Database) -> int:
        with db.read() as conn:
            ids = decisions_with_assertion(conn, args.assertion_id)
            record = load_decision(conn, ids[0]) if ids else None
        if record is None:
            print(f"no decision returned coverage-assertion-id {args.assertion_id!r}",
                  file=sys.stderr)
            return 1
        if len(ids) > 1:
            print(f"{len(ids)} decisions returned this coverage-assertion-id; showing the "
                  f"newest (decision {ids[0]}; others: {', '.join(map(str, ids[1:]))})",
                  file=sys.stderr)
        _write_json(record)
        return 0
    return _with_records(run)


def _feedback(args: argparse.Namespace) -> int:
    def run(db: Database) -> int:
        out = sys.stdout.buffer
        with db.read() as conn:
            for row in iter_feedback(conn, args.since):
                out.write(orjson.dumps(feedback_json(row)) + b"\n")
        out.flush()
        return 0
    return _with_records(run)


def _stats(args: argparse.Namespace) -> int:
    from cds_service.evaluate import Evaluator
    from cds_service.knowledge import load_knowledge

    settings = Settings()
    knowledge = load_knowledge(settings.policy_dir, settings.payer_file)
    system = Evaluator(knowledge, public_base_url=settings.public_base_url).override_system
    labels = reason_labels(system, knowledge.override_reasons())

    def run(db: Database) -> int:
        with db.read() as conn:
            _write_json(card_stats(conn, since=args.since, reason_labels=labels))
        return 0
    return _with_records(run)


def _purge(args: argparse.Namespace) -> int:
    settings = Settings()
    days = args.days or settings.retention_days

    def run(db: Database) -> int:
        result = purge(db, before=cutoff(utcnow(), days), now_epoch=int(time.time()))
        _write_json(result.to_json())
        return 0
    return _with_records(run)


def _with_records(run: Callable[[Database], int]) -> int:
    """Run against the configured database, refusing one that is missing or not at head."""
    db = Database(Settings().database_url)
    try:
        if _missing_sqlite_file(db):
            raise ConfigurationError(f"CDS_DATABASE_URL ({db.describe()})", [
                "no such SQLite file: the service creates it on first start "
                "(or run `cds-service db upgrade`)"])
        with _reachable(db):
            db.check(auto_upgrade=False)
            return run(db)
    finally:
        db.dispose()


@contextmanager
def _reachable(db: Database) -> Iterator[None]:
    """A database that is down or refuses us is a configuration error (one line, exit 2), as at
    start-up, not a traceback."""
    try:
        yield
    except OperationalError as exc:
        raise db.unreachable(exc) from None


def _missing_sqlite_file(db: Database) -> bool:
    # Reading would otherwise create an empty file where the operator expected records.
    return db.is_sqlite and not Path(str(db.url.database)).exists()


def _write_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.buffer.flush()
