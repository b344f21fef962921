"""Which uvicorn HTTP implementation to serve with: h11 against httptools on this service.

    taskset -c 1 .venv/bin/python bench/http_impl.py [--duration S] [--rounds N]

Runs the service (authentication on, decision records on, SQLite) three ways, one at a time,
each pinned to CPU 0 (run this script on CPU 1, so wrk gets the other core):
``uvicorn --http httptools`` (uvicorn's default when httptools is installed),
``uvicorn --http h11``, and ``cds-service serve`` (h11 with our limits, server/protocol.py). Each
is driven by wrk with fresh JWTs (bench/rotate_tokens.lua) on order-sign (one matched order,
full prefetch) and on ``/healthz`` (almost nothing but HTTP parsing), in alternating rounds.
The figures are in docs/operations.md "HTTP limits".
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
    ways = {
        "uvicorn --http httptools": ["-m", "uvicorn", "--http", "httptools"],
        "uvicorn --http h11": ["-m", "uvicorn", "--http", "h11"],
        "cds-service serve (h11 + limits)": None,
    }
    results: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}
    try:
        for _ in range(args.rounds):
            for name, argv in ways.items():
                port = free_port()
                env = {"CDS_ENVIRONMENT": "production", "CDS_TRUSTED_CLIENTS": str(trust),
                       "CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                       "CDS_DATABASE_URL": f"sqlite:///{work}/records-{port}.db",
                       "CDS_LOG_LEVEL": "WARNING"}
                if argv is None:
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
                        print(f"{name:<34} {path:<28} c={conns} {r.rps:7.0f}/s "
                              f"p99 {r.p99_ms:6.2f} ms cpu {r.cpu_ms:5.3f} ms", flush=True)
                finally:
                    server.stop()
    finally:
        tokens.pool.shutdown()
    print("\n| server | endpoint | conns | req/s (median) | p99 ms | CPU ms/req |")
    print("|---|---|---:|---:|---:|---:|")
    for (name, path, conns), rows in results.items():
        print(f"| {name} | `{path}` | {conns} | {statistics.median(r[0] for r in rows):.0f} | "
              f"{statistics.median(r[1] for r in rows):.2f} | "
              f"{statistics.median(r[2] for r in rows):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
