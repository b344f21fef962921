"""uvicorn's httptools HTTP/1.1 protocol with our connection limits (limits.py), and the bound
on a request head that httptools lacks.

httptools (llhttp) keeps a header line in memory until its end, without limit: eight 64 MiB
lines took a worker from 133 to about 700 MiB. So this class counts the bytes received while a
request head is incomplete and feeds the parser no more than ``CDS_HTTP_MAX_HEADER_BYTES`` of
them: a head not complete within the limit gets 431 and the connection is closed. Nothing more
than the limit and the one read that crossed it is ever held for a head. (A pipelined head that
begins within the read ending the request before it starts counting at the next read: still
bounded by one read.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cds_service.server.limits import INVALID, SMUGGLING, ConnectionLimits


class LimitedHttpToolsProtocol(HttpToolsProtocol, ConnectionLimits):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_limits()
        self.in_head = True
        """Between requests, or part of a head received: not yet its end."""
        self.head_bytes = 0
        """Bytes received (and parsed) since the current head began to be awaited."""
        self.heads = 0
        """Request heads read on this connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.opened_within_limits()

    def awaiting_head(self) -> bool:
        return self.in_head and (self.cycle is None or self.cycle.response_complete)

    def idle(self) -> bool:
        return ((self.cycle is None or self.cycle.response_complete) and not self.pipeline
                and not self.transport.is_closing())

    def close_now(self) -> None:
        self.close_transport()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self.head_may_start()
        room = self.bound.max_header_bytes - self.head_bytes
        if self.in_head and len(data) > room:
            heads = self.heads
            if room > 0 and not self._feed(data[:room]):
                return
            if self.heads == heads:  # more than the limit and still no end of the head
                self.stop_head_timer()
                self.refuse_head(too_large=True)
                return
            data = data[room:]
        if self.in_head:
            self.head_bytes += len(data)
        if self._feed(data):
            self.head_may_be_complete()

    def _feed(self, data: bytes) -> bool:
        """Parses ``data``; false if the connection was refused for it."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.stop_head_timer()
            message = str(exc)
            smuggling = "Content-Length" in message and "Transfer-Encoding" in message
            self.refuse_head(too_large=False, issue=SMUGGLING if smuggling else INVALID)
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        return True

    def on_headers_complete(self) -> None:
        self.in_head, self.head_bytes = False, 0
        self.heads += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head, self.head_bytes = True, 0

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_head_timer()
        super().connection_lost(exc)

    def release(self) -> None:
        self.parser = None  # type: ignore[assignment]  # it refers back to this protocol

    def send_400_response(self, msg: str) -> None:
        self.refuse_head(too_large=False)
