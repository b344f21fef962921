"""The JWT ``jti`` replay store on the records database, shared by every worker and instance.

CDS Hooks 2.0 §Trusting CDS Clients: ``jti`` is "used to protect against replay attacks". The
first use of an (iss, jti) inserts a row under a unique key; a second insert of the same key
fails with an integrity error, and that is the replay, decided by the database even when two
instances see the same token at the same moment.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import anyio.to_thread
from sqlalchemy import Connection, delete, update

from cds_service.store.db import Database
from cds_service.store.prepared import execute, text_statement
from cds_service.store.tables import jti_seen
from cds_service.store.writer import BatchWriter

log = logging.getLogger("cds_service.store")

# The same text on SQLite (3.24+) and PostgreSQL (9.5+): a duplicate key inserts nothing and
# raises nothing, so the claim needs no SAVEPOINT of its own (two statements fewer per call).
_INSERT_NEW = ("INSERT INTO jti_seen (digest, expires_at) VALUES (:digest, :expires_at) "
               "ON CONFLICT (digest) DO NOTHING")

PURGE_EVERY_SECONDS = 300.0


class DatabaseReplayStore:
    """``ReplayStore`` (cds_service/auth/replay.py) on the ``jti_seen`` table. Hook calls go
    through the process's batching writer when one runs (``Records``), else through their own
    transaction (tests, tools)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time,
                 purge_every: float = PURGE_EVERY_SECONDS,
                 writer: BatchWriter | None = None) -> None:
        self.db = db
        self.clock = clock
        self.purge_every = purge_every
        self.writer = writer
        self._next_purge = 0.0
        self._purge_lock = threading.Lock()

    async def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        if self.writer is None:
            return await anyio.to_thread.run_sync(self.first_use_sync, iss, jti, expires_at)
        now = int(self.clock())
        key = digest(iss, jti)
        purge = self._purge_due(now)
        # Bounded like every write (writer.py): a database that does not answer makes this
        # ServiceUnavailable (503), never a hang, and never a 401 for the caller's token.
        return await self.writer.run(lambda conn: self._claim(conn, key, expires_at, now, purge),
                                     early=True, what="jti")

    def claim_in(self, iss: str, jti: str, expires_at: int) -> Callable[[Connection], bool]:
        """The claim as a step of another write (a hook call's decision record): the caller's
        transaction commits the jti row together with what it writes."""
        now = int(self.clock())
        key = digest(iss, jti)
        purge = self._purge_due(now)
        return lambda conn: self._claim(conn, key, expires_at, now, purge)

    def first_use_sync(self, iss: str, jti: str, expires_at: int) -> bool:
        now = int(self.clock())
        purge = self._purge_due(now)
        with self.db.write() as conn:
            return self._claim(conn, digest(iss, jti), expires_at, now, purge)

    def _claim(self, conn: Connection, key: str, expires_at: int, now: int,
               purge: bool) -> bool:
        """First use of ``key`` inside the caller's transaction (a duplicate inserts nothing,
        so the rest of the transaction is unaffected)."""
        if purge:
            removed = conn.execute(delete(jti_seen).where(jti_seen.c.expires_at < now)).rowcount
            if removed:
                log.debug("%d expired jti purged", removed)
        if execute(conn, text_statement(conn, _INSERT_NEW),
                   {"digest": key, "expires_at": expires_at}) == 1:
            return True
        # Seen before. A row past its expiry is one the purge has not reached yet: the earlier
        # token can no longer be accepted, so this is a new token that reuses the id (the
        # in-memory store treats it the same way).
        taken = conn.execute(
            update(jti_seen).where(jti_seen.c.digest == key, jti_seen.c.expires_at < now)
            .values(expires_at=expires_at)).rowcount
        return bool(taken == 1)

    def purge_expired(self, now: int | None = None) -> int:
        now = int(self.clock()) if now is None else now
        with self.db.write() as conn:
            return int(conn.execute(delete(jti_seen).where(jti_seen.c.expires_at < now)).rowcount)

    def _purge_due(self, now: int) -> bool:
        # One call per process purges, at most every purge_every seconds; the others go on.
        with self._purge_lock:
            if now < self._next_purge:
                return False
            self._next_purge = now + self.purge_every
            return True


def digest(iss: str, jti: str) -> str:
    # surrogatepass: a JWT's JSON may carry a lone surrogate (\ud800), which plain UTF-8 refuses;
    # every other string encodes exactly as before.
    return hashlib.sha256(f"{len(iss)}:{iss}\x00{jti}".encode("utf-8", "surrogatepass")).hexdigest()
