"""Where a hook call's CPU goes: py-spy samples the service under wrk, then the samples are
summed by component (docs/performance.md).

    .venv/bin/python bench/profile.py [--scenario one|none50|two-of-50] [--seconds S] [--conns N]

Same set-up as bench/run.py (authentication and records on, server and wrk on separate cores,
a fresh JWT per call). Needs py-spy (`.venv/bin/pip install py-spy`) and the right to trace a
child process (root, or ptrace_scope 0). Each sample of a running thread goes to the first
component, in the order of COMPONENTS, that appears anywhere on its stack, so the shares add up
to 100 % of the CPU samples; idle threads are not sampled.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/ is not a package

# (component, markers): a marker is a substring of a py-spy frame "function (file:line)".
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("JWT: ES384 signature", ("cryptography/", "_verify_signature", "verify (jwt/algorithms")),
    ("JWT: parsing and claim checks", ("jwt/", "auth/verify.py", "auth/jwks.py")),
    ("records: WAL checkpoints (their own thread)", ("store/checkpoint.py",)),
    ("records: writer thread (statements, commits)", ("store/writer.py", "sqlalchemy/",
                                                      "sqlite3", "psycopg")),
    ("records: building the record, jti claim", ("store/", "auth/replay.py")),
    ("FHIR validation of matched orders", ("fhir/validate.py", "fhir/resources/",
                                           "fhir_core/")),
    ("cards and coverage-information actions", ("respond/", "hooks/response.py")),
    ("request: reading, JSON, HookRequest model", ("api/jsonio.py", "hooks/request.py",
                                                   "parse_request")),
    ("evaluation: scope, codes, matching, coverage", ("evaluate.py", "hooks/scope.py", "fhir/",
                                                      "payer/", "policy/")),
    ("logging", ("logging/", "cds_service/logs.py")),
    ("metrics", ("prometheus_client/", "endpoint_of", "count_answer")),
    ("hook handler (rest)", ("api/hooks.py",)),
    ("FastAPI, Starlette, uvicorn, asyncio", ("fastapi/", "starlette/", "uvicorn/", "asyncio/",
                                              "h11/", "httptools")),
]


def summarise(raw: Path) -> list[tuple[str, float]]:
    totals: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        for name, markers in COMPONENTS:
            if any(m in stack for m in markers):
                totals[name] += int(count)
                break
        else:
            totals["other"] += int(count)
    whole = sum(totals.values()) or 1
    order = [name for name, _ in COMPONENTS] + ["other"]
    return [(name, totals[name] * 100 / whole) for name in order if totals[name]]


def thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process."""
    out = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / bench.CLK_TCK
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["one", "none1", "none50", "two-of-50"],
                        default="one")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--env", action="append", default=[], metavar="CDS_X=V",
                        help="a setting for the service (repeatable)")
    parser.add_argument("--gil", action="store_true",
                        help="sample only threads holding the interpreter lock (Python work)")
    parser.add_argument("--out", type=Path, help="also keep the raw folded stacks here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(bench.BIN / "py-spy")
    body = {"one": lambda: bench.with_orders(1, 1), "none1": lambda: bench.with_orders(0, 1),
            "none50": lambda: bench.with_orders(0, 50),
            "two-of-50": lambda: bench.with_orders(2, 50)}[args.scenario]()
    with bench.Bench() as b:
        svc = b.service(1, extra_env=dict(e.split("=", 1) for e in args.env))
        b.run(svc, "warm-up", "/cds-services/crd-order-sign", body, args.conns, seconds=2)
        raw = Path(tempfile.mkstemp(suffix=".folded")[1])
        threads0 = thread_cpu(svc.proc.pid)
        spy_proc = subprocess.Popen(
            [spy, "record", "--pid", str(svc.proc.pid), "--format", "raw", "--rate", "250",
             *(["--gil"] if args.gil else []),
             "--duration", str(int(args.seconds)), "--nonblocking", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = b.run(svc, args.scenario, "/cds-services/crd-order-sign", body, args.conns,
                       seconds=args.seconds)
        spy_proc.wait(60)
        threads1 = thread_cpu(svc.proc.pid)
    print(f"\n{args.scenario}, {args.conns} connections: {result.rps:.0f} req/s, "
          f"CPU {result.cpu_ms:.2f} ms/req (py-spy sampling adds some)\n")
    if args.gil:
        # Work outside the lock (the ES384 signature in OpenSSL, SQLite's commit) is not in
        # these samples, so shares are of the Python work only: no ms column.
        print("| component | share of samples holding the GIL |\n|---|---:|")
        for name, share in summarise(raw):
            print(f"| {name} | {share:.1f} % |")
    else:
        print("| component | share of active samples | ms/req |\n|---|---:|---:|")
        for name, share in summarise(raw):
            print(f"| {name} | {share:.1f} % | {share * result.cpu_ms / 100:.2f} |")
    print("\nCPU by OS thread (ms/req; the event loop is the process's main thread):")
    for tid, cpu in sorted(threads1.items(), key=lambda kv: -kv[1]):
        spent = (cpu - threads0.get(tid, 0.0)) * 1000 / max(result.requests, 1)
        if spent >= 0.005:
            print(f"  {'main' if tid == svc.proc.pid else tid}: {spent:.3f}")
    if args.out:
        shutil.copy(raw, args.out)
    raw.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
