"""The in-process jti store (development and tests): replays refused, expired ids forgotten, and
the forgetting amortised, so a call never scans every live id."""

from __future__ import annotations

import asyncio

import pytest

from cds_service.auth import replay
from cds_service.auth.replay import MemoryReplayStore


def _use(store: MemoryReplayStore, jtis: range, expires_at: int) -> list[bool]:
    async def run() -> list[bool]:
        return [await store.first_use("iss", str(j), expires_at) for j in jtis]
    return asyncio.run(run())


def test_a_jti_is_refused_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryReplayStore()
    monkeypatch.setattr(replay.time, "time", lambda: 1000.0)
    assert _use(store, range(1), expires_at=1100) == [True]
    assert _use(store, range(1), expires_at=1100) == [False]
    monkeypatch.setattr(replay.time, "time", lambda: 1101.0)
    assert _use(store, range(1), expires_at=1200) == [True]


def test_expired_ids_are_forgotten_and_live_ones_are_not_rescanned_on_every_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "PURGE_FROM", 100)
    monkeypatch.setattr(replay.time, "time", lambda: 1000.0)
    store = MemoryReplayStore()
    assert all(_use(store, range(0, 100), expires_at=1010))  # soon expired
    monkeypatch.setattr(replay.time, "time", lambda: 1020.0)
    assert all(_use(store, range(100, 250), expires_at=5000))  # live
    assert len(store._seen) <= 150  # the expired hundred went at the first purge
    # 150 live ids: the next purge waits until the store has doubled, so the calls in between
    # do not copy the whole store each (they did, once it held more than the threshold).
    seen = store._seen
    assert all(_use(store, range(250, 300), expires_at=5000))
    assert store._seen is seen
    assert _use(store, range(100, 300), expires_at=5000) == [False] * 200  # none forgotten
