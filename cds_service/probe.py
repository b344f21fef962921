"""The container's health check (the Dockerfile's HEALTHCHECK runs ``python -m cds_service.probe``):
GET /healthz of the ``cds-service serve`` this container runs, on the port, address and scheme it
was started with. The port is read from that process's own command line (PID 1), so
``docker run IMAGE cds-service serve --port 9090`` is checked on 9090, never an assumed 8080.
Exit status 0 when it answers 200, else 1 (Docker's "unhealthy")."""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from cds_service.server.address import DEFAULT_HOST, DEFAULT_PORT

WILDCARDS = ("0.0.0.0", "::", "")


def health_url(command_line: Sequence[str], environ: Mapping[str, str]) -> str:
    """The /healthz URL of the ``serve`` in ``command_line`` (a process's argv, with whatever
    runs it first: python, an init such as tini)."""
    start = command_line.index("serve")  # ValueError: not a server
    # serve's own two options, with its defaults; not the whole command (an import of every
    # command module would take much of the check's 3 s on a busy machine).
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args, _ = parser.parse_known_args(list(command_line[start + 1:]))
    host = "127.0.0.1" if args.host in WILDCARDS else args.host
    if ":" in host:
        host = f"[{ipaddress.ip_address(host)}]"
    scheme = "https" if environ.get("CDS_TLS_CERT_FILE") else "http"
    return f"{scheme}://{host}:{args.port}/healthz"


def check(command_line: Sequence[str], environ: Mapping[str, str]) -> int:
    url = health_url(command_line, environ)
    # Not verified: it is our own process, and its certificate names the public host.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


def main() -> int:
    command_line = [a.decode() for a in Path("/proc/1/cmdline").read_bytes().split(b"\0") if a]
    return check(command_line, os.environ)


if __name__ == "__main__":
    sys.exit(main())
