"""Group commit: one thread per process performs the hook path's writes, committing together the
jobs that queued while the previous transaction committed.

With one transaction per hook call, concurrent calls queue for SQLite's single writer (or for
pool connections on PostgreSQL) and each pays its own commit and disk flush. Here N calls that
arrive together share one transaction and one flush. "Together" is decided on the event loop:
the jobs handed over during one turn of the loop reach the writer as one batch, at the next
turn. Handed over one by one, a job woke the writer at once (the next call's signature check
lets other threads run), which on a busy core committed it alone: 1.15 jobs a transaction at 8
connections (bench/). A call made alone waits for nothing but the end of the turn.

A job that fails undoes the batch, which is then retried job by job, so it fails alone (a
replayed jti is not a failure: its insert does nothing ``ON CONFLICT``, and the job answers
False). A job's caller is answered only after the commit that contains it: durability is
unchanged.

Every wait is bounded (``timeout``, CDS_DATABASE_COMMIT_TIMEOUT_SECONDS): a caller whose job has
not committed in time gets ``ServiceUnavailable`` (503) and its job is dropped if it has not run,
or undone with its batch if it has not committed yet (the others are retried without it). While
a transaction has been open longer than the bound (a frozen server), new jobs are refused at
once rather than queued. Every write that fails, whatever the cause, is raised as
``ServiceUnavailable`` too (classified in ``outage.py``), logged and counted
(``cds_records_not_written_total``), never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from cds_service import metrics
from cds_service.errors import ServiceUnavailable
from cds_service.store.db import Database
from cds_service.store.outage import outage, write_failure

log = logging.getLogger("cds_service.store")
T = TypeVar("T")
MAX_BATCH = 64
DEFAULT_TIMEOUT_SECONDS = 5.0


@dataclass
class _Job:
    run: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    early: bool
    abandoned: bool = False
    """Set (on the event loop) when the caller stopped waiting: the job must not commit."""


class _Abandoned(Exception):
    """Undo a batch holding a job whose caller has been answered 503."""


class _Expired(Exception):
    """A job not committed within the writer's bound."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class BatchWriter:
    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.db = db
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._handed: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        """Jobs handed over during the current turn of each event loop (usually one loop)."""
        self._handed_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._stuck: threading.Thread | None = None
        """The thread a stop gave up waiting for, while it is still in its transaction."""
        self._busy_since: float | None = None
        """time.monotonic() when the open transaction began (None between transactions)."""
        self._conn: Connection | None = None
        """SQLite: the writer thread's own connection, kept between transactions (taking one
        from the pool and giving it back cost about 0.1 ms of CPU a transaction, more than the
        statements of a call), dropped after any failure so that the next transaction starts
        on a fresh one. PostgreSQL's come from the pool, whose check on checkout (pre-ping)
        makes a server restart cost no call a 503."""

    def start(self) -> None:
        if self._thread is None:
            if self._stuck is not None and self._stuck.is_alive():
                raise RuntimeError("records writer: the last thread is still in a transaction")
            self._stuck = None
            # A queue of its own for each thread, so that no thread takes another's stop mark.
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._loop, args=(self._queue,),
                                            name="cds-records-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Commit what has been handed over, then end the thread; later jobs are refused.

        Waits at most the writer's bound (plus a second): by then every caller still waiting
        has been answered 503, so a transaction stuck on a frozen disk or server holds up
        shutdown no longer than it holds up a call, and nothing answered 200 is left behind."""
        if self._thread is None:
            return
        self._stopping = True
        with self._handed_lock:
            handed, self._handed = list(self._handed.values()), {}
        for jobs in handed:
            self._put(jobs)
        self._queue.put(None)
        self._thread.join(self.timeout + 1.0)
        if self._thread.is_alive():
            log.warning("records writer still in a transaction after %.1f s; shutting down "
                        "without it", self.timeout + 1.0, extra={"database": self.db.describe()})
            self._stuck = self._thread
        self._thread = None
        self._stopping = False

    async def run(self, job: Callable[[Connection], T], *, early: bool = False,
                  what: str = "record", timeout: float | None = None) -> T:
        """Run ``job`` in the next transaction; returns its result once that has committed, or,
        with ``early``, as soon as the job has run inside it. Raises ``ServiceUnavailable``
        after ``timeout`` (default: the writer's) or on an outage; ``what`` names the write in
        the log and the metric (a bounded label).

        ``early`` suits a check whose answer is settled by running it (a jti's unique insert:
        a concurrent duplicate waits on, then fails against, this uncommitted row). The caller
        goes on while the commit's disk flush runs; anything it writes afterwards is queued
        behind this job, and jobs commit in order, so it can only be stored with or after it."""
        if self._thread is None or self._stopping:
            raise RuntimeError("records writer is not running")
        bound = self.timeout if timeout is None else timeout
        busy_since = self._busy_since
        if busy_since is not None and time.monotonic() - busy_since > bound:
            raise self._unavailable(what, "stalled")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        item = _Job(job, future, loop, early)
        with self._handed_lock:
            if self._stopping:
                raise RuntimeError("records writer is stopping")
            handed = self._handed.setdefault(loop, [])
            handed.append(item)
        if len(handed) == 1:
            loop.call_soon(self._pass_on, loop)
        # The bound as a timer on the future itself: asyncio.wait_for (Python 3.11) wraps it in
        # a second future, woken one turn of the loop later, for every hook call.
        timer = loop.call_later(bound, _expire, future)
        try:
            return await future
        except _Expired:
            item.abandoned = True
            raise self._unavailable(what, "timeout") from None
        except Exception as exc:  # every failed write, whatever the cause (outage.py)
            raise self._unavailable(what, write_failure(exc),
                                    expected=outage(exc) is not None) from None
        finally:
            timer.cancel()

    def _pass_on(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._handed_lock:
            jobs = self._handed.pop(loop, None)
            # A loop closed before its turn ended (a test's, say) would keep its jobs here:
            # they go to the writer too, whoever still waits for them.
            closed = [self._handed.pop(other) for other in list(self._handed)
                      if other.is_closed()]
        for found in (jobs, *closed):
            if found:
                self._put(found)

    def _put(self, jobs: list[_Job]) -> None:
        for start in range(0, len(jobs), self.max_batch):
            self._queue.put(jobs[start:start + self.max_batch])

    def _unavailable(self, what: str, why: str, *, expected: bool = True) -> ServiceUnavailable:
        """``expected``: a condition of the database (lock, disk, connection) rather than of its
        schema, privileges or constraints, which an operator must repair (logged as an error)."""
        reason = why if why in ("timeout", "stalled") else "unavailable" if expected else "error"
        metrics.RECORDS_NOT_WRITTEN.labels(what, reason).inc()
        log.log(logging.WARNING if expected else logging.ERROR,
                "records database unavailable (%s): %s not written", why, what,
                extra={"database": self.db.describe()})
        return ServiceUnavailable("The records database is unavailable; the call was not "
                                  "answered. Send it again later.",
                                  retry_after=max(1, math.ceil(self.timeout)))

    def _loop(self, jobs_queue: queue.SimpleQueue[list[_Job] | None]) -> None:
        pending: list[_Job] = []
        stopping = False
        while pending or not stopping:
            if not pending:
                first = jobs_queue.get()
                if first is None:
                    break
                pending = first
            while len(pending) < self.max_batch and not stopping:
                try:
                    jobs = jobs_queue.get_nowait()
                except queue.Empty:
                    break
                if jobs is None:
                    stopping = True
                else:
                    pending += jobs
            batch, pending = pending[:self.max_batch], pending[self.max_batch:]
            try:
                self._commit(batch)
            except Exception:  # never the end of the thread: later calls would all time out
                log.exception("records writer: unexpected error")
        self._drop_connection()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped all the same
                conn.close()

    def _commit(self, batch: list[_Job]) -> None:
        batch = [job for job in batch if not job.abandoned]
        if not batch:
            return
        self._busy_since = time.monotonic()
        try:
            if self._conn is None and self.db.is_sqlite:
                self._conn = self.db.engine.connect()
            with self.db.write(self._conn) as conn:
                outcomes: list[tuple[bool, Any]] = []
                for job in batch:
                    outcomes.append((True, job.run(conn)))
                    if job.early:
                        _notify(job.loop, _settle, job.future, True, outcomes[-1][1])
                if any(job.abandoned for job in batch):
                    raise _Abandoned
        except Exception as exc:
            self._drop_connection()
            if len(batch) == 1:
                if not isinstance(exc, _Abandoned):
                    log.error("records transaction failed: %s (%s)", type(exc).__name__,
                              write_failure(exc))
                outcomes = [(False, exc)]
            else:
                # Something in the batch failed and undid the whole transaction: run each job
                # in its own, so one bad job cannot fail the calls that happened to share it.
                self._busy_since = None
                for job in batch:
                    self._commit([job])
                return
        finally:
            self._busy_since = None
        # One wake-up per event loop, not per job: each is a write to the loop's self-pipe,
        # where this thread gives up the interpreter lock and, on a busy core, waits for it.
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            settled.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, answers in settled.items():
            _notify(loop, _settle_all, answers)


def _notify(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: no one is waiting any more
        loop.call_soon_threadsafe(callback, *args)


def _settle_all(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        _settle(future, ok, value)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled, or an early job answered before its batch commit failed
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
