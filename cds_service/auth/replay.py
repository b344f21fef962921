"""JWT ``jti`` replay protection (CDS Hooks 2.0 §Trusting CDS Clients: jti "used to protect
against replay attacks"). Seen ids are kept until the token expires; the store must be shared by
every worker and instance that answers for the same clients, so production uses the database."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class ReplayStore(Protocol):
    async def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        """Remember (iss, jti) until ``expires_at`` (epoch seconds); False if already seen."""


PURGE_FROM = 10_000


class MemoryReplayStore:
    """One process only: for tests and single-worker development."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = asyncio.Lock()
        self._purge_at = PURGE_FROM

    async def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        now = int(time.time())
        async with self._lock:
            if len(self._seen) >= self._purge_at:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
                # Next purge once the store has doubled: purging whenever it held more than
                # PURGE_FROM ids scanned every live id on every call while that many tokens
                # were unexpired (at 700 calls/s and 5-minute tokens, 200,000 of them).
                self._purge_at = max(PURGE_FROM, 2 * len(self._seen))
            key = (iss, jti)
            if key in self._seen and self._seen[key] >= now:
                return False
            self._seen[key] = expires_at
            return True
