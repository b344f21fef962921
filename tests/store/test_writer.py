"""The records writer: concurrent jobs share a transaction, one failing job fails alone; every
wait is bounded, and an outage is ServiceUnavailable (503), not a fault."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, insert, select

from cds_service.errors import ServiceUnavailable
from cds_service.store.db import Database
from cds_service.store.tables import jti_seen
from cds_service.store.writer import BatchWriter


def add(key: str) -> Any:
    def job(conn: Connection) -> str:
        conn.execute(insert(jti_seen), {"digest": key, "expires_at": 1})
        return key
    return job


def count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(jti_seen)).scalar_one())


def test_jobs_arriving_together_commit_together_and_a_bad_one_fails_alone(db: Database) -> None:
    writer = BatchWriter(db)
    writer.start()
    try:
        async def main() -> list[Any]:
            jobs = [writer.run(add(f"k{i}")) for i in range(20)]
            jobs.insert(7, writer.run(add("k3")))  # duplicate key: fails
            return await asyncio.gather(*jobs, return_exceptions=True)

        results = asyncio.run(main())
    finally:
        writer.stop()
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert sorted(r for r in results if isinstance(r, str)) == sorted(f"k{i}" for i in range(20))
    assert count(db) == 20


def test_jobs_handed_over_in_one_turn_of_the_event_loop_share_one_commit(db: Database) -> None:
    # Concurrent hook calls that reach their record in the same turn of the loop must not each
    # pay a commit and a disk flush: they reach the writer together.
    commits = [0]
    event.listen(db.engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    writer = BatchWriter(db)
    writer.start()
    try:
        async def call(key: str) -> str:
            # A call's own work lets other threads run (OpenSSL verifying its signature does):
            # the writer could take the previous call's job alone, in the middle of the turn.
            time.sleep(0.01)
            return await writer.run(add(key))

        async def main() -> list[Any]:
            together = await asyncio.gather(*(call(f"t{i}") for i in range(8)))
            alone = await writer.run(add("later"))
            return [*together, alone]

        assert asyncio.run(main()) == [*(f"t{i}" for i in range(8)), "later"]
    finally:
        writer.stop()
    assert commits[0] == 2 and count(db) == 9


def test_stop_commits_what_is_queued(db: Database) -> None:
    writer = BatchWriter(db)
    writer.start()

    async def main() -> None:
        await asyncio.gather(*(writer.run(add(f"q{i}")) for i in range(5)))

    asyncio.run(main())
    writer.stop()
    assert count(db) == 5


def test_a_stopped_writer_refuses_work(db: Database) -> None:
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(BatchWriter(db).run(add("x")))


def blocked_until(release: threading.Event, key: str) -> Any:
    def job(conn: Connection) -> str:
        release.wait(30)
        conn.execute(insert(jti_seen), {"digest": key, "expires_at": 1})
        return key
    return job


def test_a_job_not_committed_in_time_is_answered_unavailable_and_never_committed(
        db: Database) -> None:
    # The first job holds the transaction open (a database that stopped answering); the caller
    # of the second stops waiting at the bound, so its record must not appear later.
    writer = BatchWriter(db, timeout=0.2)
    writer.start()
    release = threading.Event()
    try:
        async def main() -> list[Any]:
            first = asyncio.ensure_future(writer.run(blocked_until(release, "first"),
                                                     timeout=30))
            await asyncio.sleep(0)
            late = await asyncio.gather(writer.run(add("late")), return_exceptions=True)
            # Refused at once while the transaction stays open past the bound.
            stalled = await asyncio.gather(writer.run(add("stalled")), return_exceptions=True)
            release.set()
            return [await first, *late, *stalled]

        first, late, stalled = asyncio.run(main())
        assert first == "first"
        assert isinstance(late, ServiceUnavailable) and isinstance(stalled, ServiceUnavailable)
        assert late.headers() == {"Retry-After": "1"}

        async def after() -> str:
            return str(await writer.run(add("after")))
        assert asyncio.run(after()) == "after"  # no restart needed
    finally:
        release.set()
        writer.stop()
    with db.read() as conn:
        keys = set(conn.execute(select(jti_seen.c.digest)).scalars())
    assert keys == {"first", "after"}


def test_every_failed_write_is_unavailable_and_a_schema_fault_is_logged_as_an_error(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """A missing table fails every call as surely as a read-only database: both are 503 (issue
    21: a renamed decision-card table answered 500 while /readyz said ready)."""
    writer = BatchWriter(db)
    writer.start()

    def read_only(conn: Connection) -> None:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = 1")
            try:
                conn.execute(insert(jti_seen), {"digest": "ro", "expires_at": 1})
            finally:
                conn.exec_driver_sql("PRAGMA query_only = 0")
        else:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execute(insert(jti_seen), {"digest": "ro", "expires_at": 1})

    def no_table(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    try:
        async def main() -> list[Any]:
            return await asyncio.gather(writer.run(read_only), writer.run(no_table),
                                        return_exceptions=True)
        with caplog.at_level(logging.WARNING, "cds_service.store"):
            unavailable, fault = asyncio.run(main())
    finally:
        writer.stop()
    assert isinstance(unavailable, ServiceUnavailable)
    assert isinstance(fault, ServiceUnavailable)
    levels = {r.getMessage(): r.levelname for r in caplog.records
              if r.getMessage().startswith("records database unavailable")}
    missing = "SQLITE_ERROR" if db.is_sqlite else "SQLSTATE 42P01"  # undefined_table
    assert levels[f"records database unavailable ({missing}): record not written"] == "ERROR"
    assert "WARNING" in levels.values()


def test_a_turn_with_more_jobs_than_a_batch_holds_commits_in_batches(db: Database) -> None:
    commits = [0]
    event.listen(db.engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    writer = BatchWriter(db, max_batch=64)
    writer.start()
    try:
        async def main() -> list[Any]:
            return await asyncio.gather(*(writer.run(add(f"m{i}")) for i in range(150)))

        assert len(asyncio.run(main())) == 150
    finally:
        writer.stop()
    assert commits[0] == 3 and count(db) == 150


def test_stopping_commits_a_job_handed_over_before_its_turn_ended(db: Database) -> None:
    writer = BatchWriter(db, timeout=30)
    writer.start()

    async def main() -> str:
        task = asyncio.ensure_future(writer.run(add("last")))
        await asyncio.sleep(0)  # handed over; the turn that passes it on has not come yet
        writer.stop()
        return await task

    assert asyncio.run(main()) == "last"
    assert count(db) == 1


def test_a_caller_whose_event_loop_is_gone_does_not_stop_the_writer(db: Database) -> None:
    # A test client's loop, say, closed while its job was in a transaction: the writer must
    # still answer every later call.
    writer = BatchWriter(db, timeout=30)
    writer.start()
    release = threading.Event()
    left: list[Any] = []
    try:
        async def leave_it_running() -> None:
            left.append(asyncio.ensure_future(writer.run(blocked_until(release, "gone"))))
            await asyncio.sleep(0.1)  # asyncio.run then cancels it and closes the loop

        asyncio.run(leave_it_running())
        release.set()

        async def later() -> str:
            return await writer.run(add("later"))

        assert asyncio.run(later()) == "later"
    finally:
        writer.stop()
    assert count(db) == 2


def test_shutdown_waits_for_a_stuck_transaction_no_longer_than_a_caller_would(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    # A transaction stuck on a frozen disk or server: its caller is answered 503 at the bound,
    # and stopping the writer must not hang on it either (a deploy would wait for its kill).
    writer = BatchWriter(db, timeout=0.2)
    writer.start()
    release = threading.Event()
    try:
        async def main() -> list[Any]:
            return await asyncio.gather(writer.run(blocked_until(release, "stuck")),
                                        return_exceptions=True)
        [answer] = asyncio.run(main())
        assert isinstance(answer, ServiceUnavailable)
        stuck = writer._thread
        assert stuck is not None
        started = time.monotonic()
        writer.stop()
        assert time.monotonic() - started < 5
        assert "records writer still in a transaction" in caplog.text
        with pytest.raises(RuntimeError):  # not beside a thread still in its transaction
            writer.start()
        release.set()
        stuck.join(5)
        assert not stuck.is_alive()  # it ended on its own stop mark
        writer.start()

        async def after() -> list[str]:
            return [str(await writer.run(add(f"after-{i}"))) for i in range(3)]
        assert asyncio.run(after()) == ["after-0", "after-1", "after-2"]
    finally:
        release.set()
        writer.stop()
