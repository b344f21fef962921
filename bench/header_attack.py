"""A worker's memory under endless header lines, on each HTTP implementation the service serves
with (docs/operations.md "HTTP limits").

    taskset -c 1 .venv/bin/python bench/header_attack.py [--lines 8] [--mib 64] [--bare]

Starts ``cds-service serve`` (one worker, production, default limits) pinned to CPU 0 with
``CDS_HTTP_IMPLEMENTATION`` h11, then httptools; opens ``--lines`` connections at once, each
sending a request head whose one header line is ``--mib`` MiB long and never ends, and reports
how much each client got to send before the server closed it, what it answered, and the
worker's RSS before, at its peak (sampled every 20 ms) and a second after. ``--bare`` also
runs ``uvicorn --http httptools`` without our limits (it takes the whole lines: about 700 MiB).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import BIN, Server, free_port, rss_kib

CHUNK = 64 * 1024


def attack(port: int, mib: int) -> tuple[int, bytes]:
    """Bytes sent before the server closed the connection, and the answer's status line."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ")
        try:
            for _ in range(mib * (1 << 20) // CHUNK):
                sock.sendall(b"a" * CHUNK)
                sent += CHUNK
        except OSError:  # closed by the server: the rest cannot be sent
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return sent, answer.split(b"\r\n", 1)[0] or b"(no answer)"


def measure(name: str, command: list[str], env: dict[str, str], port: int,
            lines: int, mib: int) -> None:
    server = Server(["taskset", "-c", "0", *command], env, port, "/healthz")
    try:
        time.sleep(1)
        before = rss_kib(server.proc.pid)
        peak, done = before, threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(server.proc.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.monotonic()
        with ThreadPoolExecutor(lines) as pool:
            results = list(pool.map(lambda _: attack(port, mib), range(lines)))
        took = time.monotonic() - start
        time.sleep(1)
        done.set()
        sampler.join()
        after = rss_kib(server.proc.pid)
    finally:
        server.stop()
    sent = sorted(s / (1 << 20) for s, _ in results)
    answers = sorted({a.decode(errors="replace") for _, a in results})
    print(f"| {name} | {lines} x {mib} MiB | {sent[0]:.1f}-{sent[-1]:.1f} MiB sent each, "
          f"{took:.2f} s | {', '.join(answers)} | {before >> 10} -> {peak >> 10} MiB peak, "
          f"{after >> 10} MiB after |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--bare", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cds-header-attack-"))
    print("| server | attack | what the clients got to send | answers | worker RSS |")
    print("|---|---|---|---|---|")
    for implementation in ("h11", "httptools"):
        port = free_port()
        env = {"CDS_ENVIRONMENT": "development", "CDS_AUTH_ENABLED": "false",
               "CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "CDS_LOG_LEVEL": "WARNING",
               "CDS_DATABASE_URL": f"sqlite:///{work}/records-{port}.db",
               "CDS_HTTP_IMPLEMENTATION": implementation}
        measure(f"cds-service serve, {implementation} + limits",
                [str(BIN / "cds-service"), "serve", "--port", str(port)], env, port,
                args.lines, args.mib)
    if args.bare:
        port = free_port()
        measure("uvicorn --http httptools (no limits)",
                [str(BIN / "python"), "-m", "uvicorn", "cds_service.main:app", "--port",
                 str(port), "--http", "httptools", "--log-level", "warning"],
                {"CDS_ENVIRONMENT": "development", "CDS_AUTH_ENABLED": "false",
                 "CDS_RECORD_DECISIONS": "false"}, port, args.lines, args.mib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
