"""Policy files and the payer file reloaded while serving: on SIGHUP, and when a watched file
changes (``CDS_POLICY_DIR``, the directory of ``CDS_PAYER_FILE``; the bundled files change only
with a new release; ``CDS_RELOAD_ON_CHANGE=false`` leaves SIGHUP alone).

Never half-loaded: the whole set is read and checked as at start-up, then replaces the one in use
in one assignment (``Runtime.use``); a call in flight finishes with the evaluator it started with.
A set that does not load is refused with one log line naming the file and the fields (never their
contents), and the set in use stays. Each worker process reloads for itself: it watches the files,
and the supervisor of several workers passes SIGHUP on to each (``server/supervisor.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchfiles import Change, DefaultFilter, awatch

from cds_service.errors import ConfigurationError
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.metrics import POLICY_RELOADS

if TYPE_CHECKING:
    from cds_service.runtime import Runtime

log = logging.getLogger("cds_service.reload")
DEBOUNCE_MS = 1600
"""Changes within this long are one reload (an editor's save, a deployment's copy of a set)."""


def refusal(exc: ConfigurationError) -> str:
    """The log line of a refused reload: the file and the fields, none of the file's text (a
    problem reads ``field: what is wrong``, and what is wrong may quote the file)."""
    fields = list(dict.fromkeys(p.split(": ", 1)[0] for p in exc.problems))
    return (f"policy files not reloaded, the set in use stays: {exc.source}: "
            f"{', '.join(fields)}")


class Reloader:
    def __init__(self, runtime: Runtime, *,
                 load: Callable[[], Knowledge] | None = None) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.load = load or (lambda: load_knowledge(settings.policy_dir, settings.payer_file))
        self.policy_dir = settings.policy_dir
        self.payer_file = settings.payer_file
        self.on_change = settings.reload_on_change
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        self._signal_installed = False

    async def reload(self) -> bool:
        """Load the files again; use them if the whole set loads. One reload at a time, so an
        older set never replaces a newer one."""
        async with self._lock:
            try:
                knowledge = await asyncio.to_thread(self.load)
            except ConfigurationError as exc:
                log.error(refusal(exc))
                POLICY_RELOADS.labels(outcome="refused").inc()
                return False
            self.runtime.use(knowledge)
            POLICY_RELOADS.labels(outcome="loaded").inc()
            log.info("policy files reloaded: %d policies", len(knowledge.policies))
            return True

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Signal handlers can be set from the main thread only (an app served by a test client
        # runs elsewhere; it is reloaded by file changes or ``reload()``).
        if threading.current_thread() is threading.main_thread():
            loop.add_signal_handler(signal.SIGHUP, self._on_signal)
            self._signal_installed = True
        if self.on_change and self.watched():
            self._spawn(self._watch())

    async def stop(self) -> None:
        if self._signal_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False
        self._stop.set()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def watched(self) -> list[Path]:
        """The directories whose changes reload: the policy directory, the payer file's."""
        dirs = [self.policy_dir, self.payer_file.parent if self.payer_file else None]
        return list(dict.fromkeys(d.resolve() for d in dirs if d is not None))

    def _on_signal(self) -> None:
        self._spawn(self.reload())

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        async for _ in awatch(*self.watched(), watch_filter=self._relevant, recursive=False,
                              debounce=DEBOUNCE_MS, stop_event=self._stop):
            await self.reload()

    def _relevant(self, change: Change, path: str) -> bool:
        if not _EDITOR_FILES(change, path):
            return False
        changed = Path(path)
        if self.policy_dir is not None and changed.parent == self.policy_dir.resolve():
            return True
        # In the payer file's directory only the payer file counts, and the ``..data`` link a
        # Kubernetes ConfigMap volume swaps when its files change.
        return self.payer_file is not None and (
            changed.name == self.payer_file.name or changed.name.startswith("..data"))


_EDITOR_FILES = DefaultFilter()
"""Passes every change but those to editors' swap and backup files."""
