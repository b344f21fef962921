"""Structured logs: one JSON object per line, correlated by hookInstance, with no PHI or secrets.

Only allow-listed fields are written: anything else passed in ``extra`` is dropped, so a careless
log call cannot leak patient data or a token. The fields carry our own words, codes, counts,
settings and ids: never a URL, path or element name a caller chose. The ids a caller chooses
(``hookInstance``, ``jti``, the ``tenant`` claim) are written as they are when they are UUIDs,
as the specifications intend, and otherwise as a digest, so a free-text value cannot carry
patient data into the log yet lines of one call still correlate. A traceback is written as its
exception types and frames (file, line, function), without messages or values: an exception's
message can quote the request.

Libraries log what they handle: at DEBUG the HTTP client writes the EHR FHIR server's response
headers, host and port, the database driver its statements. So a line from any logger outside
the service (and uvicorn, whose own lines carry no request data) is written only at WARNING or
above, unless ``CDS_LOG_LIBRARY_DEBUG`` names its logger; and even then without its values (the
format string without its arguments, or the event name that starts a preformatted message).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
import sys
import time
import traceback
from types import TracebackType
from typing import Any

hook_instance: contextvars.ContextVar[str | None] = contextvars.ContextVar("hook_instance",
                                                                          default=None)

ALLOWED_FIELDS = frozenset({
    "hookInstance", "service", "hook", "iss", "tenant", "jti", "kid", "status", "endpoint",
    "method", "reason", "problem", "cards", "systemActions", "fetched", "duration_ms", "policy",
    "url", "attempt", "database", "workers", "environment", "limit", "count",
    # why a token was refused: the metric's category; for audience refusals both URLs (the
    # received one only once the token's signature has verified: a trusted client's claim)
    "category", "expected_aud", "received_aud",
    # a refused CORS preflight: the origin's host (a plain name or address only) and digest
    "origin_host", "origin_sha256",
    # the setting that explains what a line reports (e.g. a JWK Set refetch not made)
    "setting",
})
"""``url`` is for URLs of our configuration (a trusted client's JWK Set), never a caller's."""

CALLER_IDS = frozenset({"hookInstance", "jti", "tenant"})
_UUID = re.compile(r"(urn:uuid:)?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def caller_id(value: object) -> object:
    """A caller-chosen id as it may be logged: a UUID as is, anything else as a digest."""
    if value is None or (isinstance(value, str) and _UUID.fullmatch(value)):
        return value
    # surrogatepass: a JWT's JSON can carry a lone surrogate, which plain UTF-8 cannot encode.
    return "sha256:" + hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def traceback_without_values(exc_info: ExcInfo) -> str:
    """Where an exception was raised (and what caused it): types and frames, no messages."""
    parts = []
    exc: BaseException | None = exc_info[1]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = "".join(f"\n  {_where(f.filename)}:{f.lineno} in {f.name}"
                         for f in traceback.extract_tb(exc.__traceback__))
        parts.append(f"Traceback (most recent call last; messages left out):{frames}\n"
                     f"{type(exc).__module__}.{type(exc).__qualname__}")
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    # Oldest first, as Python prints a chain.
    return "\n\nThe above led to:\n".join(reversed(parts))


def _where(filename: str) -> str:
    for marker in ("/site-packages/", "/cds_service/"):
        if marker in filename:
            tail = filename.rsplit(marker, 1)[1]
            return tail if marker == "/site-packages/" else "cds_service/" + tail
    return filename.rsplit("/", 1)[-1]


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
        for key in CALLER_IDS.intersection(entry):
            entry[key] = caller_id(entry[key])
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def formatException(self, ei: Any) -> str:
        return traceback_without_values(ei)


class PlainFormatter(logging.Formatter):
    """``CDS_LOG_JSON=false``: the message alone, and tracebacks without values too."""

    def formatException(self, ei: Any) -> str:
        return traceback_without_values(ei)


OURS = ("cds_service", "uvicorn")
_EVENT = re.compile(r"[A-Za-z_][\w.\-]*")


def _ours(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in OURS)


class LibraryLines(logging.Filter):
    """Library lines below WARNING only from the loggers named, and then without values."""

    def __init__(self, named: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.named = named

    def filter(self, record: logging.LogRecord) -> bool:
        if _ours(record.name):
            return True
        if record.levelno < logging.WARNING and not any(
                record.name == n or record.name.startswith(n + ".") for n in self.named):
            return False
        record.msg, record.args = without_values(record), None
        return True


def without_values(record: logging.LogRecord) -> str:
    if record.args and isinstance(record.msg, str):
        return f"{record.msg} (values left out)"
    event = _EVENT.match(str(record.msg))
    return f"{event.group(0) if event else record.name} (details left out)"


def configure(level: str = "INFO", as_json: bool = True,
              library_debug: list[str] | tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LibraryLines(tuple(library_debug)))
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's access log would print client addresses and full paths; our middleware logs
    # what operators need instead.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
