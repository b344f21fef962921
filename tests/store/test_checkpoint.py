"""SQLite's log is copied into the database file by the checkpoint thread, not by the commits the
hook calls wait on; the log stays bounded all the same."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert

from cds_service.store import db as db_module
from cds_service.store.checkpoint import Checkpointer
from cds_service.store.db import Database, prepare
from cds_service.store.tables import jti_seen


def _database(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "records.db"
    prepare(f"sqlite:///{path}")
    return Database(f"sqlite:///{path}"), path


def _write(db: Database, count: int, prefix: str) -> None:
    for i in range(count):
        with db.write() as conn:
            conn.execute(insert(jti_seen), {"digest": f"{prefix}{i:060d}", "expires_at": i})


def test_commits_leave_their_pages_in_the_log_for_the_checkpoint_to_copy(tmp_path: Path) -> None:
    db, path = _database(tmp_path)
    try:
        _write(db, 1, "warm")
        Checkpointer(db).checkpoint()
        size = path.stat().st_size
        _write(db, 600, "k")  # over 1,000 pages of log: past SQLite's default threshold
        assert path.stat().st_size == size  # no commit copied anything into the file
        logged, copied = Checkpointer(db).checkpoint()
        assert logged > 0 and copied == logged
        assert path.stat().st_size > size
    finally:
        db.dispose()


def test_the_checkpoint_thread_copies_the_log_on_its_own(tmp_path: Path) -> None:
    db, path = _database(tmp_path)
    checkpointer = Checkpointer(db, interval=0.05)
    try:
        _write(db, 1, "warm")
        checkpointer.checkpoint()
        size = path.stat().st_size
        checkpointer.start()
        _write(db, 200, "k")
        deadline = time.monotonic() + 10
        while path.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > size
    finally:
        checkpointer.stop()
        db.dispose()


def test_shutdown_does_not_wait_for_a_stuck_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    db, _ = _database(tmp_path)
    entered, release = threading.Event(), threading.Event()

    def stuck(self: Checkpointer) -> tuple[int, int]:  # a checkpoint on a frozen disk
        entered.set()
        release.wait(30)
        return 0, 0
    monkeypatch.setattr(Checkpointer, "checkpoint", stuck)
    checkpointer = Checkpointer(db, interval=0.01)
    try:
        checkpointer.start()
        assert entered.wait(5)
        stuck = checkpointer._thread
        assert stuck is not None
        started = time.monotonic()
        checkpointer.stop(wait=0.2)
        assert time.monotonic() - started < 5
        assert "WAL checkpoint still running" in caplog.text
        checkpointer.start()  # a new thread; the stuck one must still end once free
        release.set()
        stuck.join(5)
        assert not stuck.is_alive()
    finally:
        release.set()
        checkpointer.stop()
        db.dispose()


def test_a_log_grown_past_the_limit_is_cut_back_when_it_restarts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A long read holds checkpoints off and the log grows; once copied, the next commit starts
    # the log over and the file shrinks to the limit instead of keeping its largest size.
    monkeypatch.setattr(db_module, "WAL_SIZE_LIMIT_BYTES", 256 * 1024)
    db, path = _database(tmp_path)
    wal = Path(f"{path}-wal")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE scratch (x BLOB)")
        for _ in range(4):
            with db.write() as conn:
                conn.exec_driver_sql("INSERT INTO scratch VALUES (zeroblob(500000))")
        grown = wal.stat().st_size
        assert grown > 1024 * 1024
        logged, copied = Checkpointer(db).checkpoint()
        assert copied == logged
        _write(db, 1, "after")
        assert wal.stat().st_size <= 256 * 1024 < grown
    finally:
        db.dispose()
