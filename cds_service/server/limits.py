"""The connection limits neither of uvicorn's HTTP implementations has, shared by both of ours
(h11_protocol.py on h11, httptools_protocol.py on httptools): whichever parser reads the bytes,
a connection is admitted, timed and refused the same way and with the same answers.

Both of uvicorn's implementations arm their keep-alive timer only after a response: a connection
that never finishes (or never starts) a request is kept for ever. So ``ConnectionLimits`` adds:

- the idle timer from the moment a connection opens, not only after a response;
- a deadline for a request head, counted from its first byte and not extended by more bytes
  (a client sending one byte every few seconds is closed all the same): 408, then closed;
- 431 for an incomplete head over the size limit (each parser says when: h11 by its own bound,
  httptools by the bytes counted before the head completes);
- a cap on open connections, so idle sockets can never exhaust the process's file descriptors:
  one more first closes the connection idle the longest (no request in progress: never used, or
  between requests), as nginx frees keep-alive connections when it runs out; with none idle it is
  answered 503 and closed at once. So sockets held open by a client that sends nothing cost
  later callers nothing but their slot's turnover.

uvicorn creates one protocol per connection from the class, in each worker process, so the
limits are read from the environment's settings once per process (``Limits``) unless a test
binds them with ``bound_to``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import socket
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

import orjson

from cds_service.config import Settings
from cds_service.errors import Issue, operation_outcome
from cds_service.metrics import HTTP_LIMITS

log = logging.getLogger("cds_service.server")

TOO_LARGE = Issue("too-costly", "request header fields too large")
INVALID = Issue("structure", "invalid HTTP request")
SMUGGLING = Issue("invalid", "a request may not carry both Content-Length and Transfer-Encoding")
"""RFC 9112 §6.3: a message with both is refused and the connection closed, or a proxy framing
by Content-Length and us by chunks would see different requests (request smuggling)."""


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    max_header_bytes: int
    max_connections: int
    handshake_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.http_header_timeout_seconds, settings.http_max_header_bytes,
                   settings.http_max_connections, settings.tls_handshake_timeout_seconds)


@functools.cache
def _from_environment() -> Limits:
    return Limits.of(Settings())


def raw_response(status: int, reason: str, issue: Issue, extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 answer, for when no request was (or could be) read; always closing."""
    body = orjson.dumps(operation_outcome([issue]))
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


class ConnectionLimits:
    """Mixed into a uvicorn HTTP protocol (after it in the bases, so uvicorn's methods stay
    first); the protocol tells, in its parser's terms, whether it is waiting for a request head
    (``awaiting_head``) and whether it is idle, and calls the steps below where they belong."""

    limits: ClassVar[Limits | None] = None
    # Set by uvicorn's protocol.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]
    timeout_keep_alive: int
    timeout_keep_alive_task: asyncio.TimerHandle | None

    def start_limits(self) -> None:
        self.bound = self.limits or _from_environment()
        self.head_timer: asyncio.TimerHandle | None = None
        self.opened = 0
        """Order of opening (a counter: many connections open within one clock tick)."""
        self.tls: Any = None
        """The TLS layer below this connection (server/handshake.py), which admitted it."""

    @classmethod
    def bound_to(cls, settings: Settings) -> type[Self]:
        """This protocol with ``settings``' limits, for a server run inside this process."""
        return type(cls.__name__, (cls,), {"limits": Limits.of(settings)})

    def awaiting_head(self) -> bool:
        """No request in progress and its head not complete (nothing of it received, or part)."""
        raise NotImplementedError

    def idle(self) -> bool:
        """No request in progress on this connection, and not already closing."""
        raise NotImplementedError

    def close_now(self) -> None:
        """Closes this connection at once, to make room for another."""
        raise NotImplementedError

    def release(self) -> None:
        """Cuts this protocol's own reference cycles, once its connection is gone (the TLS
        layer calls it: a connection that never finished its handshake never reaches
        uvicorn's ``connection_lost``)."""

    def timeout_keep_alive_handler(self) -> None:  # uvicorn's
        raise NotImplementedError

    def opened_within_limits(self) -> None:
        """After uvicorn's ``connection_made``: admitted (or refused with 503), and timed."""
        _no_delay(self.transport)
        if self.tls is not None:  # admitted at accept, before its handshake
            self.tls.handshake_done()
        else:
            self.opened = self.next_opening()
            if not self.admit(self, counted=True):
                self.note_refusal()
                self.transport.write(raw_response(
                    503, "Service Unavailable",
                    Issue("transient", "too many open connections; retry shortly"),
                    b"retry-after: 1\r\n"))
                self.transport.close()
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
                                 if isinstance(c, ConnectionLimits) and c is not newcomer
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

    def close_transport(self) -> None:
        if self.tls is not None:  # no close_notify exchange for a connection evicted
            self.tls.close_now()
        else:
            self.transport.close()

    def head_may_start(self) -> None:
        """Before bytes are parsed: the head's deadline runs from its first byte."""
        if self.head_timer is None and self.awaiting_head():
            self.head_timer = self.loop.call_later(self.bound.header_timeout, self._head_too_slow)

    def head_may_be_complete(self) -> None:
        """After bytes are parsed."""
        if self.head_timer is not None and not self.awaiting_head():
            self.stop_head_timer()

    def stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def refuse_head(self, too_large: bool, issue: Issue = INVALID) -> None:
        """Answers a request head that cannot be read (431 if ``too_large``, else 400 with
        ``issue``) and closes the connection."""
        if too_large:
            HTTP_LIMITS.labels("header-size").inc()
            answer = raw_response(431, "Request Header Fields Too Large", TOO_LARGE)
        else:
            answer = raw_response(400, "Bad Request", issue)
        self.transport.write(answer)
        self.transport.close()

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or not self.awaiting_head():
            return
        log.info("connection closed: request head not complete in time")
        HTTP_LIMITS.labels("header-timeout").inc()
        self.transport.write(raw_response(408, "Request Timeout", Issue(
            "timeout", "request headers not received in time")))
        self.transport.close()


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each response at once (TCP_NODELAY). asyncio's own event loop sets this only on a
    socket whose ``proto`` says TCP, and the listening socket uvicorn hands to each of several
    workers says 0: every response's last segment then waited for the client's delayed ACK,
    about 40 ms a call (bench/: 21 calls/s serially with two workers, against 428 with one).
    uvloop sets it itself; setting it again costs one system call a connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # the peer already gone
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

