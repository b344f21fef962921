"""Structured logs: one JSON object per line, correlated by hookInstance, with no PHI or secrets.

Only allow-listed fields are written: anything else passed in ``extra`` is dropped, so a careless
log call cannot leak patient data or a token.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

hook_instance: contextvars.ContextVar[str | None] = contextvars.ContextVar("hook_instance",
                                                                          default=None)

ALLOWED_FIELDS = frozenset({
    "hookInstance", "service", "hook", "iss", "tenant", "jti", "kid", "status", "path", "method",
    "reason", "problem", "cards", "systemActions", "fetched", "duration_ms", "policy", "url",
    "attempt", "database", "workers", "environment",
    # why a token was refused: the metric's category; for audience refusals both URLs (the
    # received one only once the token's signature has verified: a trusted client's claim)
    "category", "expected_aud", "received_aud",
})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = hook_instance.get()
        if current:
            entry["hookInstance"] = current
        for key in ALLOWED_FIELDS.intersection(record.__dict__):
            entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's access log would print client addresses and full paths; our middleware logs
    # what operators need instead.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
