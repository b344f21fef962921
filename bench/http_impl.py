"""Which uvicorn HTTP implementation to serve with: h11 against httptools on this service.

    taskset -c 1 .venv/bin/python bench/http_impl.py [--duration S] [--rounds N] [--bare]

Runs ``cds-service serve`` (authentication on, decision records on, SQLite, our limits) on each
implementation (``CDS_HTTP_IMPLEMENTATION``), one at a time, each pinned to CPU 0 (run this
script on CPU 1, so wrk gets the other core); with ``--bare``, also uvicorn's own
``--http httptools`` and ``--http h11`` without our limits. Each is driven by wrk with fresh
JWTs (bench/rotate_tokens.lua) on order-sign (one matched order, full prefetch, 8 connections)
and on ``/healthz`` (almost nothing but HTTP parsing), in rounds whose order alternates. The
figures are in docs/operations.md "HTTP limits"; bench/header_attack.py measures the memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import BIN, ISS, KID, Server, Tokens, free_port, with_orders, wrk

SIGN = "/cds-services/crd-order-sign"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare", action="store_true",
                        help="also uvicorn's implementations without our limits")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cds-http-impl-"))
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": KID, "alg": "ES384"}
    trust = work / "trust.json"
    trust.write_text(json.dumps({"clients": [{"iss": ISS, "jwks": {"keys": [jwk]}}]}))
    tokens = Tokens(pem)
    body = with_orders(1, 1)
    pin = ["taskset", "-c", "0"]
    ways: dict[str, list[str]] = {
        "cds-service serve, h11 + limits": ["h11"],
        "cds-service serve, httptools + limits": ["httptools"],
    }
    if args.bare:
        ways |= {"uvicorn --http httptools": ["-m", "uvicorn", "--http", "httptools"],
                 "uvicorn --http h11": ["-m", "uvicorn", "--http", "h11"]}
    results: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}
    try:
        for round_ in range(args.rounds):
            order = list(ways.items())
            for name, argv in order if round_ % 2 == 0 else reversed(order):
                port = free_port()
                env = {"CDS_ENVIRONMENT": "production", "CDS_TRUSTED_CLIENTS": str(trust),
                       "CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                       "CDS_DATABASE_URL": f"sqlite:///{work}/records-{port}.db",
                       "CDS_LOG_LEVEL": "WARNING"}
                if len(argv) == 1:
                    env["CDS_HTTP_IMPLEMENTATION"] = argv[0]
                    command = [*pin, str(BIN / "cds-service"), "serve", "--port", str(port)]
                else:
                    command = [*pin, str(BIN / "python"), *argv, "cds_service.main:app",
                               "--port", str(port), "--no-access-log", "--log-level", "warning"]
                server = Server(command, env, port, "/readyz")
                try:
                    for path, method, payload, conns, rate in (
                            (SIGN, "POST", body, 8, 2000), ("/healthz", "GET", None, 8, 20000)):
                        aud = server.base + path
                        wrk(server, path, method=method, body=payload, conns=conns, duration=1,
                            tokens=tokens, aud=aud, name=name, work=work, expected_rps=rate)
                        r = wrk(server, path, method=method, body=payload, conns=conns,
                                duration=args.duration, tokens=tokens, aud=aud, name=name,
                                work=work, expected_rps=rate)
                        if r.errors:
                            raise RuntimeError(f"{name} {path}: {r.errors} errors")
                        results.setdefault((name, path, conns), []).append(
                            (r.rps, r.p99_ms, r.cpu_ms))
                        print(f"{name:<38} {path:<28} c={conns} {r.rps:7.0f}/s "
                              f"p99 {r.p99_ms:6.2f} ms cpu {r.cpu_ms:5.3f} ms", flush=True)
                finally:
                    server.stop()
    finally:
        tokens.pool.shutdown()
    # On a machine shared with other work, noise only ever slows a round down: the best round
    # is the lowest-noise figure, the median the typical one.
    print("\n| server | endpoint | conns | req/s best (median) | p99 ms (median) "
          "| CPU ms/req lowest (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for (name, path, conns), rows in results.items():
        rps, p99, cpu = ([r[i] for r in rows] for i in range(3))
        print(f"| {name} | `{path}` | {conns} | {max(rps):.0f} ({statistics.median(rps):.0f}) "
              f"| {statistics.median(p99):.2f} "
              f"| {min(cpu):.3f} ({statistics.median(cpu):.3f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
