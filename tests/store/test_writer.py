"""The records writer: concurrent jobs share a transaction, one failing job fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select

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
