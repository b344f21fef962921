"""The address ``serve`` listens on, tried before anything starts: a port in use (or one this
user may not open) is a one-line refusal naming the address, exit status 2, the same with one
worker or many. Left to uvicorn it is a log line and exit 1 or 3, and with several workers the
address goes unnamed."""

from __future__ import annotations

import socket

from cds_service.errors import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def check_listen(host: str, port: int) -> None:
    """Bind every address ``host`` resolves to, as uvicorn will, and let go at once."""
    source = f"--host {host} --port {port}"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(source, [
            f"cannot resolve {host!r}: {exc.strerror}; expected an address of this machine, "
            "e.g. 127.0.0.1 or 0.0.0.0"]) from None
    for family, kind, proto, _, address in addresses:
        shown = f"[{address[0]}]:{port}" if family == socket.AF_INET6 else f"{address[0]}:{port}"
        with socket.socket(family, kind, proto) as probe:
            # uvicorn sets SO_REUSEADDR too: a port left in TIME_WAIT is free, one in use is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigurationError(source, [
                    f"cannot listen on {shown}: {exc.strerror or exc}; expected a port no other "
                    "process listens on (choose another with --port)"]) from None
