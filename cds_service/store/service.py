"""``Records``: the store as the running service uses it.

Nothing here blocks the event loop that serves other hook calls: writes go to the process's
batching writer thread (``writer.py``: calls that arrive together share one transaction and one
disk flush), reads run in a worker thread (``anyio.to_thread``). ``record_decision`` returns only
after the commit: the caller answers 200 after that, so a crash right after the answer cannot
lose the record.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Connection

from cds_service.errors import ServiceUnavailable
from cds_service.store.checkpoint import Checkpointer
from cds_service.store.clock import utcnow
from cds_service.store.db import Database, Timeouts
from cds_service.store.decisions import save_decision
from cds_service.store.feedback import FeedbackRecord, FeedbackResult, save_feedback
from cds_service.store.heartbeat import heartbeat
from cds_service.store.outage import outage
from cds_service.store.records import DecisionRecord
from cds_service.store.replay import DatabaseReplayStore
from cds_service.store.stats import card_stats
from cds_service.store.writer import DEFAULT_TIMEOUT_SECONDS, BatchWriter

log = logging.getLogger("cds_service.store")


class Records:
    def __init__(self, database_url: str, *, clock: Callable[[], datetime] = utcnow,
                 timeouts: Timeouts | None = None,
                 commit_timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 readiness_timeout: float = 1.0) -> None:
        self.db = Database(database_url, timeouts)
        self.clock = clock
        self.commit_timeout = commit_timeout
        self.readiness_timeout = readiness_timeout
        self.writer = BatchWriter(self.db, timeout=commit_timeout)
        self.checkpointer = Checkpointer(self.db)
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
        self.checkpointer.start()

    async def close(self) -> None:
        def stop() -> None:
            # The writer first: its wait is the one that matters (what it holds is committed).
            self.writer.stop()
            self.checkpointer.stop()
            self.db.dispose()
        await anyio.to_thread.run_sync(stop)

    async def ready(self) -> bool:
        """Whether a record can be committed now: a heartbeat write through the same writer
        and transaction path as hook calls, bounded by ``readiness_timeout``."""
        now = int(self.clock().timestamp())
        try:
            await self.writer.run(lambda conn: heartbeat(conn, now), what="heartbeat",
                                  timeout=self.readiness_timeout)
        except Exception:  # logged and counted by the writer
            return False
        return True

    async def record_decision(self, record: DecisionRecord,
                              claim: tuple[str, str, int] | None = None) -> bool:
        """Commit the record; with ``claim`` (iss, jti, expires_at), claim the caller's jti in
        the same transaction, one write per call: False, and nothing written, if the jti was
        used before (a replay, decided by the database across workers and instances)."""
        what = "decision" if record.status == 200 else "refusal"
        if claim is None:
            await self.writer.run(lambda conn: save_decision(conn, record), what=what)
            return True
        first_use = self.replay.claim_in(*claim)

        def claim_and_save(conn: Connection) -> bool:
            if not first_use(conn):
                return False
            save_decision(conn, record)
            return True

        return await self.writer.run(claim_and_save, what=what)

    async def save_feedback(self, records: list[FeedbackRecord]) -> FeedbackResult:
        now = self.clock()
        return await self.writer.run(lambda conn: save_feedback(conn, records, now),
                                     what="feedback")

    async def stats(self, *, since: datetime | None = None,
                    reason_labels: Mapping[tuple[str, str], str] | None = None,
                    ) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            with self.db.read() as conn:
                return card_stats(conn, since=since, reason_labels=reason_labels)
        # Reads are bounded like writes; a thread stuck on a frozen server is left to finish
        # on its own (the statement and TCP timeouts end it) while the caller gets 503.
        unavailable = ServiceUnavailable("The records database is unavailable. Try again later.",
                                         retry_after=max(1, math.ceil(self.commit_timeout)))
        try:
            with anyio.fail_after(self.commit_timeout):
                return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except TimeoutError:
            log.warning("records database unavailable (timeout): stats not read")
            raise unavailable from None
        except Exception as exc:
            label = outage(exc)
            if label is None:
                raise
            log.warning("records database unavailable (%s): stats not read", label)
            raise unavailable from None
