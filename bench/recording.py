"""Benchmark: what the decision record costs per hook call, recording on vs off in one run.

    .venv/bin/python bench/recording.py [--calls N] [--rounds R] [--concurrency C]
                                        [--postgres postgresql+psycopg://user:pw@host/db]

Builds the application three (or four) ways in one process: records off, records on an SQLite
file in a temporary directory (the default deployment), and, with ``--postgres`` (or
CDS_TEST_POSTGRES_URL), records on a fresh PostgreSQL database created on that server and dropped
afterwards. Each is driven through the ASGI interface (no sockets, so the figures are the
service's own work) with the same order-sign request: one matched order, one card, one
coverage-information action, i.e. a full decision record. Rounds alternate between the
configurations so drift on a shared machine hits them alike. Authentication is off in all of
them, so the figures are the decision record alone (the jti replay insert is measured by
bench/run.py, which runs with authentication on).

Sequential calls give the added latency per call; the concurrent phase (C calls in flight) shows
what happens when writers queue on the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cds_service.config import Settings
from cds_service.main import create_app
from cds_service.runtime import Runtime
from cds_service.store.db import Database

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "fhir_examples" / "requests" / (
    "order-sign-47383-medicare-advantage-hepatocellular-carcinoma.json")
URL = "/cds-services/crd-order-sign"


@dataclass
class Config:
    name: str
    record: bool
    database_url: str
    client: httpx2.AsyncClient | None = None
    runtime: Runtime | None = None


@dataclass
class Result:
    sequential: list[float]
    concurrent_rate: list[float]


async def start(config: Config) -> None:
    settings = Settings(environment="development", auth_enabled=False,
                        record_decisions=config.record, database_url=config.database_url,
                        public_base_url="https://cds.payer.example", log_json=False)
    app = create_app(settings)
    config.runtime = app.state.runtime
    await config.runtime.startup()
    config.client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                       base_url="http://bench")


async def stop(config: Config) -> None:
    if config.client is not None:
        await config.client.aclose()
    if config.runtime is not None:
        await config.runtime.shutdown()


def bodies(n: int) -> list[dict[str, Any]]:
    template = json.loads(REQUEST.read_text())
    return [{**template, "hookInstance": str(uuid.uuid4())} for _ in range(n)]


async def one_call(client: httpx2.AsyncClient, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    response = await client.post(URL, json=body)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"hook call failed: {response.status_code} {response.text[:300]}")
    return elapsed


async def sequential(config: Config, calls: int) -> list[float]:
    assert config.client is not None
    return [await one_call(config.client, body) for body in bodies(calls)]


async def concurrent(config: Config, calls: int, in_flight: int) -> float:
    """Calls per second with ``in_flight`` calls outstanding at all times."""
    assert config.client is not None
    client = config.client
    queue = bodies(calls)
    gate = asyncio.Semaphore(in_flight)

    async def guarded(body: dict[str, Any]) -> float:
        async with gate:
            return await one_call(client, body)

    start = time.perf_counter()
    await asyncio.gather(*(guarded(b) for b in queue))
    return calls / (time.perf_counter() - start)


async def rounds(configs: list[Config], calls: int, count: int, in_flight: int,
                 ) -> dict[str, Result]:
    results = {c.name: Result([], []) for c in configs}
    for config in configs:  # warm-up: imports, pools, first-touch of the database files
        await sequential(config, 30)
        await concurrent(config, 30, in_flight)
    for i in range(count):
        order = configs if i % 2 == 0 else list(reversed(configs))
        for config in order:
            results[config.name].sequential += await sequential(config, calls)
        for config in order:
            results[config.name].concurrent_rate.append(
                await concurrent(config, calls, in_flight))
        print(f"round {i + 1}/{count} done", file=sys.stderr)
    return results


def postgres_database(server_url: str) -> tuple[str, Callable[[], None]]:
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"cds_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    db.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return url, drop


def table(configs: list[Config], results: dict[str, Result], in_flight: int) -> str:
    base = results[configs[0].name]
    base_ms = statistics.median(base.sequential) * 1000
    base_rate = statistics.median(base.concurrent_rate)
    lines = [
        f"| configuration | median ms/call | p95 ms/call | added ms/call | ratio "
        f"| calls/s ({in_flight} in flight) | throughput ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        r = results[config.name]
        median = statistics.median(r.sequential) * 1000
        p95 = statistics.quantiles(r.sequential, n=20)[18] * 1000
        rate = statistics.median(r.concurrent_rate)
        lines.append(f"| {config.name} | {median:.2f} | {p95:.2f} | {median - base_ms:+.2f} "
                     f"| {median / base_ms:.2f} | {rate:.0f} | {rate / base_rate:.2f} |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="cds-bench-recording-"))
    configs = [Config("records off", False, f"sqlite:///{workdir / 'unused.db'}"),
               Config("records on, SQLite (WAL, synchronous=FULL)", True,
                      f"sqlite:///{workdir / 'records.db'}")]
    cleanup: list[Callable[[], None]] = []
    if args.postgres:
        url, drop = postgres_database(args.postgres)
        cleanup.append(drop)
        configs.append(Config("records on, PostgreSQL", True, url))
    try:
        for config in configs:
            await start(config)
        results = await rounds(configs, args.calls, args.rounds, args.concurrency)
    finally:
        for config in configs:
            await stop(config)
        for step in cleanup:
            step()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{args.rounds} rounds x {args.calls} calls per configuration, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"request {REQUEST.name}\n")
    print(table(configs, results, args.concurrency))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round and phase")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("CDS_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (a scratch database is created on it)")
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
