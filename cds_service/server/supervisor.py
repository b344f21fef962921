"""Running uvicorn with one worker or several, SIGHUP meaning "reload the policy files".

Uvicorn's supervisor of several workers answers SIGHUP by replacing every worker; each worker
reloads its own files in place instead (``reload.py``: a set that does not load is refused and the
one in use stays, where a replacement worker would fail to start), so the supervisor passes the
signal on to them.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

APP = "cds_service.main:app"


class ReloadingSupervisor(Multiprocess):
    def handle_hup(self) -> None:
        for process in self.processes:
            if process.pid is not None and process.is_alive(timeout=1):
                os.kill(process.pid, signal.SIGHUP)


def serve(**options: Any) -> int:
    """What ``uvicorn.run(APP, **options)`` does, with the supervisor above for several workers;
    the exit status (uvicorn's own for a server that could not start)."""
    config = uvicorn.Config(APP, **options)
    if config.workers > 1:
        ReloadingSupervisor(config, sockets=[config.bind_socket()]).run()
        return 0
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE
