"""uvicorn's h11 HTTP/1.1 protocol with our connection limits (limits.py).

h11 bounds an incomplete request head itself (its ``max_incomplete_event_size``, set here from
the same limit as the httptools stack's, ``CDS_HTTP_MAX_HEADER_BYTES``) and hints 431 for it;
this class keeps that hint for the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from cds_service.server.limits import ConnectionLimits


class _Connection(h11.Connection):
    """Keeps the status h11 suggests for the last protocol error (431 for a head too large)."""

    refused_status = 400

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_status = exc.error_status_hint
            raise


class LimitedH11Protocol(H11Protocol, ConnectionLimits):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_limits()
        self.parser = _Connection(h11.SERVER, self.bound.max_header_bytes)
        self.conn = self.parser

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.opened_within_limits()

    def awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def idle(self) -> bool:
        return (self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE
                and not self.transport.is_closing())

    def close_now(self) -> None:
        self.conn.send(h11.ConnectionClosed())
        self.close_transport()

    def data_received(self, data: bytes) -> None:
        self.head_may_start()
        super().data_received(data)
        self.head_may_be_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.refuse_head(too_large=self.parser.refused_status == 431)
