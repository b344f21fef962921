"""``Records``: the store as the running service uses it.

Nothing here blocks the event loop that serves other hook calls: writes go to the process's
batching writer thread (``writer.py``: calls that arrive together share one transaction and one
disk flush), reads run in a worker thread (``anyio.to_thread``). ``record_decision`` returns only
after the commit: the caller answers 200 after that, so a crash right after the answer cannot
lose the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import anyio.to_thread

from cds_service.store.clock import utcnow
from cds_service.store.db import Database
from cds_service.store.decisions import save_decision
from cds_service.store.feedback import FeedbackRecord, FeedbackResult, save_feedback
from cds_service.store.records import DecisionRecord
from cds_service.store.replay import DatabaseReplayStore
from cds_service.store.stats import card_stats
from cds_service.store.writer import BatchWriter


class Records:
    def __init__(self, database_url: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = Database(database_url)
        self.clock = clock
        self.writer = BatchWriter(self.db)
        self.replay = DatabaseReplayStore(self.db, writer=self.writer)

    async def open(self) -> None:
        """Check the schema (creating or upgrading an SQLite file); raises ConfigurationError."""
        await anyio.to_thread.run_sync(self._open)

    def _open(self) -> None:
        try:
            self.db.check(auto_upgrade=self.db.is_sqlite)
        except BaseException:
            self.db.dispose()
            raise
        self.writer.start()

    async def close(self) -> None:
        def stop() -> None:
            self.writer.stop()
            self.db.dispose()
        await anyio.to_thread.run_sync(stop)

    async def ready(self) -> bool:
        return await anyio.to_thread.run_sync(self.db.ping)

    async def record_decision(self, record: DecisionRecord) -> None:
        await self.writer.run(lambda conn: save_decision(conn, record))

    async def save_feedback(self, records: list[FeedbackRecord]) -> FeedbackResult:
        now = self.clock()
        return await self.writer.run(lambda conn: save_feedback(conn, records, now))

    async def stats(self, *, since: datetime | None = None,
                    reason_labels: Mapping[tuple[str, str], str] | None = None,
                    ) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            with self.db.read() as conn:
                return card_stats(conn, since=since, reason_labels=reason_labels)
        return await anyio.to_thread.run_sync(run)
