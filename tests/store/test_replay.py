"""The jti replay store on the shared database (CDS Hooks 2.0 §Trusting CDS Clients)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from cds_service.auth.replay import ReplayStore
from cds_service.store.db import Database
from cds_service.store.replay import DatabaseReplayStore, digest
from cds_service.store.tables import jti_seen

NOW = 1_800_000_000


def store(db: Database, now: list[int] | None = None) -> DatabaseReplayStore:
    clock = now or [NOW]
    return DatabaseReplayStore(db, clock=lambda: clock[0])


def rows(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(jti_seen)).scalar_one())


def test_it_is_a_replay_store() -> None:
    def accepts(_: ReplayStore) -> None: ...
    accepts(DatabaseReplayStore(Database("sqlite:///unused.db")))


def test_a_jti_is_accepted_once(db: Database) -> None:
    replay = store(db)
    assert asyncio.run(replay.first_use("https://ehr.example", "jti-1", NOW + 300)) is True
    assert asyncio.run(replay.first_use("https://ehr.example", "jti-1", NOW + 300)) is False
    # The same id from another issuer is another token.
    assert asyncio.run(replay.first_use("https://other.example", "jti-1", NOW + 300)) is True


def test_the_replay_is_seen_by_every_instance_sharing_the_database(migrated_url: str) -> None:
    one, two = Database(migrated_url), Database(migrated_url)
    try:
        assert store(one).first_use_sync("iss", "jti-1", NOW + 300) is True
        assert store(two).first_use_sync("iss", "jti-1", NOW + 300) is False
    finally:
        one.dispose()
        two.dispose()


def test_concurrent_uses_of_one_jti_let_exactly_one_through(db: Database) -> None:
    replay = store(db)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: replay.first_use_sync("iss", "race", NOW + 60),
                                range(16)))
    assert results.count(True) == 1


def test_an_expired_entry_no_longer_blocks_its_id(db: Database) -> None:
    now = [NOW]
    replay = store(db, now)
    assert replay.first_use_sync("iss", "jti-1", NOW + 10)
    now[0] = NOW + 11
    assert replay.first_use_sync("iss", "jti-1", NOW + 100) is True
    assert replay.first_use_sync("iss", "jti-1", NOW + 100) is False


def test_expired_entries_are_purged_now_and_then(db: Database) -> None:
    now = [NOW]
    replay = DatabaseReplayStore(db, clock=lambda: now[0], purge_every=60)
    for i in range(5):
        replay.first_use_sync("iss", f"old-{i}", NOW + 5)
    now[0] = NOW + 30   # expired, but the next purge is not due yet
    replay.first_use_sync("iss", "fresh", NOW + 600)
    assert rows(db) == 6
    now[0] = NOW + 61
    replay.first_use_sync("iss", "fresher", NOW + 600)
    assert rows(db) == 2


def test_the_key_is_a_fixed_size_digest_that_cannot_be_forged_by_splitting() -> None:
    assert len(digest("a" * 5000, "b" * 5000)) == 64
    assert digest("ab", "c") != digest("a", "bc")
