"""The outermost part of the application (pure ASGI, inside the metrics middleware): the limits
that need a parsed request head, and the one answer to an error nobody expected.

- A head with more header fields than allowed, or larger than allowed (the HTTP protocols
  bound only an incomplete head), gets 431 and the connection is closed.
- Requests in progress are capped per worker: one more gets 503 with ``Retry-After`` at once, so
  a burst is never queued behind work the caller will have given up on. ``/healthz`` is exempt:
  a busy worker is alive, and its liveness probe must not restart it.
- The body must arrive within the body timeout of the head: 408 otherwise.
- An answer given before the whole body was read says ``Connection: close`` (RFC 9112 §9.6), so
  a body that keeps trickling in after the answer cannot hold the connection.
- An unexpected error is answered here with a complete 500 OperationOutcome instead of reaching
  uvicorn, which would drop the keep-alive connection without saying so and lose the caller's
  next request on it; the connection stays usable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cds_service.api.errors import internal_error, outcome_response
from cds_service.config import Settings
from cds_service.errors import Issue, RequestTimeout
from cds_service.metrics import HTTP_LIMITS, endpoint_of
from cds_service.server.limits import SMUGGLING, Throttled

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("cds_service.server")

NOT_CAPPED = frozenset({"/healthz"})
CLOSE = (b"connection", b"close")


class RequestGuard:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.max_headers = settings.http_max_headers
        self.max_header_bytes = settings.http_max_header_bytes
        self.body_timeout = settings.http_body_timeout_seconds
        self.max_requests = settings.http_max_requests
        self.in_progress = 0
        self.busy = Throttled("requests refused: requests in progress at the limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send, self.body_timeout)
        if len(scope["headers"]) > self.max_headers or head_bytes(scope) > self.max_header_bytes:
            HTTP_LIMITS.labels("header-count" if len(scope["headers"]) > self.max_headers
                               else "header-size").inc()
            log.info("request refused: header fields too large or too many",
                     extra={"endpoint": endpoint_of(scope["path"])[0]})
            response = outcome_response(431, [Issue(
                "too-costly", f"request header fields too large (at most {self.max_headers} "
                              f"fields, {self.max_header_bytes} bytes)")], {"Connection": "close"})
            await response(scope, exchange.receive, exchange.send)
            return
        names = {name.lower() for name, _ in scope["headers"]}
        if b"content-length" in names and b"transfer-encoding" in names:
            # limits.SMUGGLING says why (h11 leaves this to us; httptools refuses it itself).
            log.info("request refused: both Content-Length and Transfer-Encoding",
                     extra={"endpoint": endpoint_of(scope["path"])[0]})
            response = outcome_response(400, [SMUGGLING], {"Connection": "close"})
            await response(scope, exchange.receive, exchange.send)
            return
        if self.in_progress >= self.max_requests and scope["path"] not in NOT_CAPPED:
            HTTP_LIMITS.labels("requests").inc()
            self.busy.hit(asyncio.get_running_loop().time(), limit=self.max_requests)
            response = outcome_response(503, [Issue("transient", "busy; retry shortly")],
                                        {"Retry-After": "1"})
            await response(scope, exchange.receive, exchange.send)
            return
        self.in_progress += 1
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            if exchange.started:
                raise  # half an answer: only closing the connection tells the caller
            await internal_error(exc, scope["path"])(scope, exchange.receive, exchange.send)
        finally:
            self.in_progress -= 1


def head_bytes(scope: Scope) -> int:
    """The request head's size as received, give or take the spaces and line ends."""
    target = len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b""))
    return target + 16 + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class _Exchange:
    """One request's receive and send, timing the body and noting what was sent."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, body_timeout: float) -> None:
        self._receive = receive
        self._send = send
        self.body_done = not any(
            name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0")
            for name, value in scope["headers"])
        self.deadline = asyncio.get_running_loop().time() + body_timeout
        self.started = False

    async def receive(self) -> Message:
        if self.body_done:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            HTTP_LIMITS.labels("body-timeout").inc()
            raise RequestTimeout("request body not received in time") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if not self.body_done:
                message = {**message, "headers": [*message.get("headers", ()), CLOSE]}
        await self._send(message)
