"""Every connection sends its responses at once (TCP_NODELAY), whichever event loop runs: on
asyncio's own, a socket accepted by one of several workers came without it, and each response
waited about 40 ms for the client's delayed ACK (docs/performance.md)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from cds_service.server.limits import _no_delay


class _Transport(asyncio.BaseTransport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.sock if name == "socket" else default


@contextmanager
def accepted(proto: int) -> Iterator[socket.socket]:
    """A TCP connection's server side, accepted from a listening socket made the way a worker
    that was handed its socket sees it (``proto`` 0) or as asyncio makes one (``IPPROTO_TCP``)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    try:
        yield server
    finally:
        for s in (server, client, listener):
            s.close()


def test_an_accepted_connection_is_set_to_send_without_delay() -> None:
    for proto in (0, socket.IPPROTO_TCP):
        with accepted(proto) as server:
            assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            _no_delay(_Transport(server))
            assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_connection_already_gone_or_not_tcp_is_left_alone() -> None:
    _no_delay(_Transport(None))  # type: ignore[arg-type]
    left, right = socket.socketpair()  # AF_UNIX: no TCP options
    with left, right:
        _no_delay(_Transport(left))
    with accepted(0) as server:
        server.close()
        _no_delay(_Transport(server))  # closed: the OSError is the peer's business, not ours
