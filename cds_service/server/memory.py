"""Freed memory given back to the system after a burst of connections closes.

Each TLS connection's OpenSSL state and buffers (about 100 KiB) come from the C heap, in
pieces interleaved with longer-lived ones, so glibc keeps the freed pages: after a flood of
half handshakes, the worker stayed about 50 MiB (512 connections' worth) above where it
started, for good. ``malloc_trim`` returns the free pages inside the heap too. It runs at most
once a second, and only after a burst (``BURST`` connections closed since the last run), so
ordinary traffic never pays for it. Without glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

BURST = 64
PERIOD_SECONDS = 1.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


class Trimmer:
    def __init__(self) -> None:
        self.trim = _malloc_trim()
        self.closed = 0
        self.pending: asyncio.TimerHandle | None = None

    def connection_closed(self, loop: asyncio.AbstractEventLoop) -> None:
        self.closed += 1
        if self.pending is None and self.trim is not None:
            self.pending = loop.call_later(PERIOD_SECONDS, self._run)

    def _run(self) -> None:
        self.pending = None
        if self.closed >= BURST and self.trim is not None:
            self.trim(0)
        self.closed = 0


TRIMMER = Trimmer()
"""One per process: the C heap is the process's."""
