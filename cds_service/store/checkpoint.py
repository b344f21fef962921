"""SQLite's WAL checkpoints, kept off the path of the hook calls' commits.

In WAL mode SQLite copies the log back into the database file (a checkpoint) when a commit
leaves more than ``wal_autocheckpoint`` pages in the log, inside that commit: the hook calls
waiting on it wait for hundreds of calls' pages to be copied and flushed. With the schema's rows
for a 50-order call, commits took 0.8 ms at the median and 6.4 ms at p99 that way, 1.1 and 1.3 ms
with the checkpoints made elsewhere. So a thread of the process checkpoints the log every
``interval`` seconds, ``PASSIVE`` (it never makes the writer or a reader wait), and commits
checkpoint only past ``BACKSTOP_PAGES`` (``db.py``), should this thread ever fall behind or
stop. PostgreSQL has nothing of the kind to do.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from cds_service.store.db import Database

log = logging.getLogger("cds_service.store")
INTERVAL_SECONDS = 0.02
"""Often, so that each checkpoint is small: on one core, a checkpoint's copying and flushing
lands on the calls answered meanwhile. Serial 50-order calls, in-process (p99 / slowest): every
0.2 s, 9.3 / 13.7 ms; every 0.05 s, 8.3 / 10 ms; every 0.02 s, 7.9 / 9.4 ms; every 0.01 s,
5.9 / 7.8 ms but about 3 % more CPU per call. A checkpoint with nothing to copy costs 9 us."""
STOP_WAIT_SECONDS = 1.0
"""A checkpoint still running by then is left to the daemon thread: it loses nothing (the log
keeps every commit), and shutdown has already waited for the records writer."""


class Checkpointer:
    def __init__(self, db: Database, interval: float = INTERVAL_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.db.is_sqlite:
            # An event of its own for each thread: one left running by a stop that gave up
            # waiting still ends, instead of going on beside the new one.
            self._stopping = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stopping,),
                                            name="cds-wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """End the thread, waiting at most ``wait`` seconds: a checkpoint stuck on a frozen disk
        must not hold up shutdown (the thread is a daemon, and an unfinished checkpoint loses
        nothing: the log keeps every commit)."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(wait)
            if self._thread.is_alive():
                log.warning("WAL checkpoint still running after %.1f s; shutting down without it",
                            wait, extra={"database": self.db.describe()})
            self._thread = None

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: (pages in the log, pages copied to the database file)."""
        connection = self.db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            _busy, logged, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            connection.close()
        return int(logged), int(copied)

    def _loop(self, stopping: threading.Event) -> None:
        failing = False
        while not stopping.wait(self.interval):
            try:
                self.checkpoint()
            except Exception as exc:  # the backstop keeps the log bounded meanwhile
                if not failing:
                    # SQLite's own words (read-only file, disk full, I/O error): a PRAGMA
                    # carries no record data.
                    reason = exc if isinstance(exc, sqlite3.Error) \
                        else getattr(exc, "orig", None) or type(exc).__name__
                    log.warning("WAL checkpoints failing: %s", reason,
                                extra={"database": self.db.describe()})
                failing = True
            else:
                if failing:
                    log.info("WAL checkpoints working again",
                             extra={"database": self.db.describe()})
                failing = False
