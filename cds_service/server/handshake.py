"""HTTPS with the plain listener's bounds: TLS is done per connection by this protocol, not by
the listening socket.

Given a certificate, uvicorn hands the context to ``loop.create_server``, and asyncio then runs
each TLS handshake before our protocol hears of the connection: a connection that never finishes
(or never starts) its handshake was counted by nothing, held for asyncio's 60 s handshake
timeout, and kept a 256 KiB read buffer all that time (12,000 such connections: 12,017
descriptors and 713 MiB). So ``serve`` gives uvicorn no TLS arguments and this class (the
listener's protocol factory) wraps each accepted connection itself:

- the connection counts against ``CDS_HTTP_MAX_CONNECTIONS`` from accept; one more closes the
  connection idle the longest, a handshake in progress counting as idle (it carries no
  request), or is closed at once (a 503 cannot be sent before TLS);
- a handshake not complete within ``CDS_TLS_HANDSHAKE_TIMEOUT_SECONDS`` is aborted;
- after the handshake the HTTP protocol (``http``: h11 or httptools) takes over with its head,
  body and idle timeouts, exactly as on the plain listener;
- the read buffer is 32 KiB (two TLS records), not 256 KiB, and a closing connection waits
  for the peer's close_notify no longer than the handshake timeout;
- a closed connection's references are cut at once (left to the collector, a flood's closed
  connections piled up: +700 MiB a round), and after a burst the freed C heap is given back
  (server/memory.py).
"""

from __future__ import annotations

import functools
import ssl
from asyncio import sslproto
from typing import Any, ClassVar

from cds_service import tls
from cds_service.config import Settings
from cds_service.metrics import HTTP_LIMITS
from cds_service.server.h11_protocol import LimitedH11Protocol
from cds_service.server.httptools_protocol import LimitedHttpToolsProtocol
from cds_service.server.limits import HANDSHAKING, ConnectionLimits
from cds_service.server.memory import TRIMMER


@functools.cache
def _context_from_environment() -> ssl.SSLContext:
    settings = Settings()
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    return tls.server_context(str(settings.tls_cert_file), str(settings.tls_key_file))


class LimitedTLSProtocol(sslproto.SSLProtocol):
    max_size = 32 * 1024
    """Read buffer per connection (asyncio's default is 256 KiB, allocated at accept)."""
    http_protocol: ClassVar[Any]
    """The HTTP protocol class above this layer (a uvicorn protocol with ConnectionLimits)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.http = self.http_protocol(*args, **kwargs)
        self.http.tls = self
        timeout: Any = self.http.bound.handshake_timeout  # typeshed: int; asyncio takes float
        # typeshed types the waiter as required; asyncio takes None (no one waits: the HTTP
        # protocol is told by connection_made).
        super().__init__(self.http.loop, self.http, _context_from_environment(),
                         None,  # type: ignore[arg-type]
                         server_side=True, ssl_handshake_timeout=timeout,
                         ssl_shutdown_timeout=timeout)
        self.raw: Any = None

    @property
    def opened(self) -> int:
        return int(self.http.opened)

    def connection_made(self, transport: Any) -> None:
        self.raw = transport
        self.http.opened = self.http.next_opening()
        if not self.http.admit(self, counted=False):
            self.http.note_refusal()
            transport.abort()
            return
        HANDSHAKING.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self in HANDSHAKING:
            HANDSHAKING.discard(self)
            if isinstance(exc, ConnectionAbortedError):  # asyncio's handshake timeout
                HTTP_LIMITS.labels("handshake-timeout").inc()
        super().connection_lost(exc)
        # Break the cycles (this ↔ the HTTP protocol ↔ its transport, and the HTTP protocol's
        # own, which it may never have been told to close) at once: left to the collector, a
        # flood's closed connections and their OpenSSL state pile up between its rare full
        # passes (runtime.py) and the memory never returns.
        self.http.tls = None
        self.http.release()
        self.raw = None
        TRIMMER.connection_closed(self.http.loop)

    def handshake_done(self) -> None:
        """Called by the HTTP protocol once TLS is up: from now on it is an HTTP connection."""
        HANDSHAKING.discard(self)

    def idle(self) -> bool:
        return self.raw is not None and not self.raw.is_closing()

    def close_now(self) -> None:
        HANDSHAKING.discard(self)
        self.raw.abort()


# One class per HTTP protocol, named here: uvicorn hands the class to the worker processes it
# spawns, which import it by name.
class TLSUnderH11(LimitedTLSProtocol):
    http_protocol = LimitedH11Protocol


class TLSUnderHttpTools(LimitedTLSProtocol):
    http_protocol = LimitedHttpToolsProtocol


TLS_PROTOCOLS: dict[type[ConnectionLimits], type[LimitedTLSProtocol]] = {
    LimitedH11Protocol: TLSUnderH11, LimitedHttpToolsProtocol: TLSUnderHttpTools}
