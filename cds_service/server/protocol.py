"""The HTTP protocol ``cds-service serve`` gives uvicorn: one of uvicorn's two HTTP/1.1
implementations with our connection limits (limits.py), chosen by ``CDS_HTTP_IMPLEMENTATION``,
and wrapped for TLS per connection when a certificate is set (handshake.py)."""

from __future__ import annotations

from typing import Any

from cds_service.config import HttpImplementation, Settings
from cds_service.server.h11_protocol import LimitedH11Protocol
from cds_service.server.httptools_protocol import LimitedHttpToolsProtocol
from cds_service.server.limits import ConnectionLimits

PROTOCOLS: dict[HttpImplementation, type[LimitedH11Protocol] | type[LimitedHttpToolsProtocol]] = {
    HttpImplementation.H11: LimitedH11Protocol,
    HttpImplementation.HTTPTOOLS: LimitedHttpToolsProtocol}


def http_protocol(settings: Settings) -> type[ConnectionLimits]:
    return PROTOCOLS[settings.http_implementation]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``uvicorn.run`` needs for these limits (and never its own ``limit_concurrency``,
    which counts idle keep-alive connections as load and answers plain-text 503s)."""
    protocol: Any = http_protocol(settings)
    if settings.tls:
        from cds_service.server.handshake import TLS_PROTOCOLS

        protocol = TLS_PROTOCOLS[protocol]
    return {"http": protocol,
            "timeout_keep_alive": settings.http_idle_timeout_seconds,
            # No route is a WebSocket: an upgrade request would otherwise be handed to uvicorn's
            # WebSocket protocol, outside every limit above.
            "ws": "none"}
