"""Group commit: one thread per process performs the hook path's writes, committing together the
jobs that queued while the previous transaction committed.

With one transaction per hook call, concurrent calls queue for SQLite's single writer (or for
pool connections on PostgreSQL) and each pays its own commit and disk flush. Here N calls that
arrive together share one transaction and one flush. A job that fails undoes the batch, which is
then retried job by job, so it fails alone (a replayed jti is not a failure: its unique-key
violation is caught in a SAVEPOINT of its own). A job's caller is answered only after the
commit that contains it: durability is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from cds_service.store.db import Database

log = logging.getLogger("cds_service.store")
T = TypeVar("T")
MAX_BATCH = 64


@dataclass
class _Job:
    run: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    early: bool


class BatchWriter:
    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="cds-records-writer",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    async def run(self, job: Callable[[Connection], T], *, early: bool = False) -> T:
        """Run ``job`` in the next transaction; returns its result once that has committed, or,
        with ``early``, as soon as the job has run inside it.

        ``early`` suits a check whose answer is settled by running it (a jti's unique insert:
        a concurrent duplicate waits on, then fails against, this uncommitted row). The caller
        goes on while the commit's disk flush runs; anything it writes afterwards is queued
        behind this job, and jobs commit in order, so it can only be stored with or after it."""
        if self._thread is None:
            raise RuntimeError("records writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(job, future, loop, early))
        return await future

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        try:
            with self.db.write() as conn:
                outcomes: list[tuple[bool, Any]] = []
                for job in batch:
                    outcomes.append((True, job.run(conn)))
                    if job.early:
                        job.loop.call_soon_threadsafe(_settle, job.future, True, outcomes[-1][1])
        except Exception as exc:
            if len(batch) == 1:
                log.error("records transaction failed: %s", type(exc).__name__)
                outcomes = [(False, exc)]
            else:
                # Something in the batch failed and undid the whole transaction: run each job
                # in its own, so one bad job cannot fail the calls that happened to share it.
                for job in batch:
                    self._commit([job])
                return
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled, or an early job answered before its batch commit failed
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
