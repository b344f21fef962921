"""uvicorn's h11 HTTP/1.1 protocol with the limits neither of uvicorn's implementations has.

Both of uvicorn's HTTP implementations arm their keep-alive timer only after a response: a
connection that never finishes (or never starts) a request is kept for ever. Only h11 bounds an
incomplete request head (``h11_max_incomplete_event_size``); httptools buffers a header line
without end (eight 64 MiB lines took a worker from 133 to about 700 MiB). So the service runs
h11 (docs/operations.md "HTTP limits" has the measurements) and this class adds:

- the idle timer from the moment a connection opens, not only after a response;
- a deadline for a request head, counted from its first byte and not extended by more bytes
  (a client sending one byte every few seconds is closed all the same): 408, then closed;
- 431 rather than 400 for a head over the size limit (h11's own hint);
- a cap on open connections, so idle sockets can never exhaust the process's file descriptors:
  one more first closes the connection idle the longest (no request in progress: never used, or
  between requests), as nginx frees keep-alive connections when it runs out; with none idle it is
  answered 503 and closed at once. So sockets held open by a client that sends nothing cost
  later callers nothing but their slot's turnover.

uvicorn creates one instance per connection from the class, in each worker process, so the
limits are read from the environment's settings once per process (``LIMITS``) unless a test
binds them with ``bound_to``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import h11
import orjson
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from cds_service.config import Settings
from cds_service.errors import Issue, operation_outcome
from cds_service.metrics import HTTP_LIMITS

log = logging.getLogger("cds_service.server")


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    max_connections: int
    handshake_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.http_header_timeout_seconds, settings.http_max_connections,
                   settings.tls_handshake_timeout_seconds)


@functools.cache
def _from_environment() -> Limits:
    return Limits.of(Settings())


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``uvicorn.run`` needs for these limits (and never its own ``limit_concurrency``,
    which counts idle keep-alive connections as load and answers plain-text 503s)."""
    if settings.tls:
        from cds_service.server.handshake import LimitedTLSProtocol

        protocol: Any = LimitedTLSProtocol
    else:
        protocol = LimitedH11Protocol
    return {"http": protocol,
            "h11_max_incomplete_event_size": settings.http_max_header_bytes,
            "timeout_keep_alive": settings.http_idle_timeout_seconds}


def raw_response(status: int, reason: str, diagnostics: str, code: str,
                 extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 answer, for when no request was (or could be) read; always closing."""
    body = orjson.dumps(operation_outcome([Issue(code, diagnostics)]))
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/fhir+json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n").encode() + extra \
        + b"\r\n" + body


_OPENED = itertools.count()


class Evictable(Protocol):
    """An open connection the cap may close to make room: idle, or still in its TLS handshake."""

    @property
    def opened(self) -> int: ...

    def idle(self) -> bool: ...

    def close_now(self) -> None: ...


HANDSHAKING: set[Evictable] = set()
"""Accepted HTTPS connections whose TLS handshake is not complete (server/handshake.py): they
count against the cap as open connections do."""


class Throttled:
    """A warning logged at most once a second, with how often it happened since: a flood of
    refused connections or requests must not become a flood of log lines."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.count = 0
        self.last = float("-inf")

    def hit(self, now: float, **extra: object) -> None:
        self.count += 1
        if now - self.last >= 1.0:
            log.warning(self.message, extra={**extra, "count": self.count})
            self.count, self.last = 0, now


_REFUSED = Throttled("connections refused: open connections at the limit")


class _Connection(h11.Connection):
    """Keeps the status h11 suggests for the last protocol error (431 for a head too large)."""

    refused_status = 400

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_status = exc.error_status_hint
            raise


class LimitedH11Protocol(H11Protocol):
    limits: ClassVar[Limits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bound = self.limits or _from_environment()
        self.parser = _Connection(h11.SERVER, self.config.h11_max_incomplete_event_size
                                  or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)
        self.conn = self.parser
        self.head_timer: asyncio.TimerHandle | None = None
        self.opened = 0
        """Order of opening (a counter: many connections open within one clock tick)."""
        self.tls: Any = None
        """The TLS layer below this connection (server/handshake.py), which admitted it."""

    @classmethod
    def bound_to(cls, settings: Settings) -> type[LimitedH11Protocol]:
        """This protocol with ``settings``' limits, for a server run inside this process."""
        return type(cls.__name__, (cls,), {"limits": Limits.of(settings)})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.tls is not None:  # admitted at accept, before its handshake
            self.tls.handshake_done()
        else:
            self.opened = self.next_opening()
            if not self.admit(self, counted=True):
                self.note_refusal()
                transport.write(raw_response(503, "Service Unavailable",
                                             "too many open connections; retry shortly",
                                             "transient", b"retry-after: 1\r\n"))
                transport.close()
                return
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                            self.timeout_keep_alive_handler)

    @staticmethod
    def next_opening() -> int:
        return next(_OPENED)

    def admit(self, newcomer: Evictable, *, counted: bool) -> bool:
        """Whether ``newcomer`` (``counted`` among the open connections already, or not) may
        stay: yes under the cap, or when the connection idle the longest was closed for it."""
        open_now = len(self.connections) + len(HANDSHAKING) + (0 if counted else 1)
        if open_now <= self.bound.max_connections:
            return True
        idle: list[Evictable] = [c for c in self.connections
                                 if isinstance(c, LimitedH11Protocol) and c is not newcomer
                                 and c.idle()]
        idle += [c for c in HANDSHAKING if c is not newcomer and c.idle()]
        if not idle:
            return False
        HTTP_LIMITS.labels("idle-closed").inc()
        min(idle, key=lambda c: c.opened).close_now()
        return True

    def note_refusal(self) -> None:
        HTTP_LIMITS.labels("connections").inc()
        _REFUSED.hit(self.loop.time(), limit=self.bound.max_connections)

    def idle(self) -> bool:
        """No request in progress on this connection, and not already closing."""
        return (self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE
                and not self.transport.is_closing())

    def close_now(self) -> None:
        self.conn.send(h11.ConnectionClosed())
        if self.tls is not None:  # no close_notify exchange for a connection evicted
            self.tls.close_now()
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.head_timer is None and self.conn.their_state is h11.IDLE:
            self.head_timer = self.loop.call_later(self.bound.header_timeout, self._head_too_slow)
        super().data_received(data)
        if self.head_timer is not None and self.conn.their_state is not h11.IDLE:
            self._stop_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        status = self.parser.refused_status if self.parser.refused_status == 431 else 400
        if status == 431:
            HTTP_LIMITS.labels("header-size").inc()
        issue = (Issue("too-costly", "request header fields too large") if status == 431
                 else Issue("structure", "invalid HTTP request"))
        body = orjson.dumps(operation_outcome([issue]))
        headers = [(b"content-type", b"application/fhir+json"),
                   (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        reason = b"Request Header Fields Too Large" if status == 431 else b"Bad Request"
        for event in (h11.Response(status_code=status, headers=headers, reason=reason),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.info("connection closed: request head not complete in time")
        HTTP_LIMITS.labels("header-timeout").inc()
        self.transport.write(raw_response(408, "Request Timeout",
                                          "request headers not received in time", "timeout"))
        self.transport.close()

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
