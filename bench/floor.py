"""The durability floor: the ceiling app plus the least a durable record of each call can cost.

Each call claims its jti under a unique key and stores one row (its time and its answer) on
SQLite in WAL mode with ``synchronous=FULL``, committed before the answer, as the service must
(CDS Hooks 2.0 §Trusting CDS Clients for the jti; Da Vinci CRD §found-37 for the record). The
writer is as lean as one can be: the driver's own connection held by one thread, the calls
handed over in one turn of the event loop committed together, one wake-up of the loop per batch.
No SQLAlchemy, no record contents beyond one row, no checkpoint thread (SQLite checkpoints
inside commits), no bound on waiting. The gap between this and the ceiling is what the
durability rule alone costs on this machine; the gap between the service and this is our work.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import sqlite3
import threading
import time

from fastapi import HTTPException, Request
from fastapi.responses import Response

from bench.ceiling import CARD, new_app, verify

Row = tuple[str, int, float, bytes]
_Job = tuple[asyncio.Future[bool], Row]


class Writer:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS jti (digest TEXT PRIMARY KEY, "
                        "expires_at INTEGER NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS call (id INTEGER PRIMARY KEY, "
                        "digest TEXT NOT NULL, recorded_at REAL NOT NULL, answer BLOB NOT NULL)")
        self.queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, list[_Job]]] = \
            queue.SimpleQueue()
        self.handed: list[_Job] = []
        threading.Thread(target=self._loop, daemon=True).start()

    async def record(self, row: Row) -> bool:
        """True once the row is committed; False, with nothing written, for a jti seen before."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self.handed.append((future, row))
        if len(self.handed) == 1:
            loop.call_soon(self._pass_on, loop)
        return await future

    def _pass_on(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs, self.handed = self.handed, []
        self.queue.put((loop, jobs))

    def _loop(self) -> None:
        while True:
            loop, jobs = self.queue.get()
            answers: list[tuple[asyncio.Future[bool], bool | Exception]] = []
            try:
                self.db.execute("BEGIN IMMEDIATE")
                for future, (digest, expires_at, recorded_at, answer) in jobs:
                    first = self.db.execute(
                        "INSERT INTO jti VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (digest, expires_at)).rowcount == 1
                    if first:
                        self.db.execute("INSERT INTO call (digest, recorded_at, answer) "
                                        "VALUES (?, ?, ?)", (digest, recorded_at, answer))
                    answers.append((future, first))
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:  # the batch's callers fail; the writer goes on
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                answers = [(future, exc) for future, _ in jobs]
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[bool], bool | Exception]]) -> None:
    for future, outcome in answers:
        if future.done():  # its caller went away
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


_WRITER = Writer(os.environ["FLOOR_DATABASE"])
app = new_app()


@app.post("/cds-services/{service_id}")
async def hook(service_id: str, request: Request) -> Response:
    await request.body()
    claims = verify(request.headers.get("authorization", ""), service_id)
    digest = hashlib.sha256(f"{claims['iss']}\x00{claims['jti']}".encode()).hexdigest()
    if not await _WRITER.record((digest, int(claims["exp"]), time.time(), CARD)):
        raise HTTPException(401)  # a replayed token
    return Response(CARD, media_type="application/json")
