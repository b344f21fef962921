"""Check that two versions of the service answer every example request the same (ids aside).

A performance change must not change an answer. This drives the ASGI app in-process (auth off,
development settings, records on to SQLite in a temporary directory) with every request of
``fhir_examples/requests`` and of the shared CRD/Inferno reference requests, each as sent and
with each ``davinci-crd.requestedVersion``, each again with empty values added to its orders,
and each sent again carrying the coverage information it was given (already asserted; then
dated earlier, so replaced), under three policy sets (bundled; the test-only order-type
policies; the example policies with their payer file). It keeps the status, the response and
the decision record of every call, with generated UUIDs numbered in order of appearance.

    .venv/bin/python bench/same_responses.py compare OLD_TREE NEW_TREE   # e.g. a git worktree
    .venv/bin/python bench/same_responses.py capture OUT.json [--config NAME] [--shared DIR]

``compare`` runs ``capture`` in each tree (its code on PYTHONPATH, this checkout's requests and
venv) and prints the first differences, exiting 1 if there are any.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIGS = ("default", "types", "examples")
VERSIONS = (None, "2.0", "2.1", "2.2")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def configure(config: str, tree: Path, work: str) -> None:
    os.environ.update(CDS_ENVIRONMENT="development", CDS_AUTH_ENABLED="false",
                      CDS_DATABASE_URL=f"sqlite:///{work}/records.db", CDS_LOG_LEVEL="WARNING",
                      CDS_RECORD_DECISIONS="true", CDS_RELOAD_ON_CHANGE="false")
    if config == "types":
        os.environ.update(CDS_POLICY_DIR=str(tree / "tests/data/order-type-policies"),
                          CDS_ACCEPT_ANY_PAYER="true")
    elif config == "examples":
        os.environ.update(CDS_POLICY_DIR=str(tree / "fhir_examples/policies"),
                          CDS_PAYER_FILE=str(tree / "fhir_examples/payer.yaml"),
                          CDS_ACCEPT_ANY_PAYER="true")


def requests(tree: Path, shared: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    files = sorted((tree / "fhir_examples/requests").glob("*.json"))
    files += sorted((shared / "reference/crd").glob("*request*.json"))
    for f in files:
        yield f.name, json.loads(f.read_text())
    for f in files:
        body = json.loads(f.read_text())
        for resource in _orders(body):
            resource.update(note=[], _status=None,
                            identifier=[{"value": ""}, {"system": "urn:x", "value": "1",
                                                        "period": {}}])
        yield f"empty-values {f.name}", body


def _orders(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for name in ("draftOrders", "appointments"):
        bundle = body.get("context", {}).get(name)
        for entry in bundle.get("entry", []) if isinstance(bundle, dict) else []:
            if isinstance(entry.get("resource"), dict):
                yield entry["resource"]


def with_own_coverage_information(body: dict[str, Any], answer: Any) -> dict[str, Any]:
    """The call again, each order carrying what its update action said."""
    updated = {(r.get("resourceType"), r.get("id")): r
               for a in (answer.get("systemActions") or []) if isinstance(answer, dict)
               for r in [a.get("resource")] if isinstance(r, dict)}
    body = copy.deepcopy(body)
    for name in ("draftOrders", "appointments"):
        bundle = body.get("context", {}).get(name)
        for entry in bundle.get("entry", []) if isinstance(bundle, dict) else []:
            key = (entry.get("resource", {}).get("resourceType"),
                   entry.get("resource", {}).get("id"))
            if key in updated:
                entry["resource"] = updated[key]
    return body


def capture(out: Path, config: str, shared: Path) -> None:
    tree = Path.cwd()
    configure(config, tree, tempfile.mkdtemp(prefix="same-responses-"))
    from cds_service import runtime
    from cds_service.config import Settings
    from cds_service.main import create_app

    records: list[dict[str, Any]] = []
    decision_record = runtime.decision_record

    def keep(*args: Any, **kwargs: Any) -> Any:
        record = decision_record(*args, **kwargs)
        fields = dataclasses.asdict(record)
        del fields["recorded_at"], fields["hook_instance"]
        records.append(fields)
        return record

    runtime.decision_record = keep  # type: ignore[assignment]
    logging.disable(logging.CRITICAL)
    app = create_app(Settings())

    async def call(body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body).encode()
        path = f"/cds-services/crd-{body.get('hook', '')}"
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"),
                             (b"content-length", str(len(raw)).encode())]}
        sent = False
        got: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                got["status"] = message["status"]
            elif message["type"] == "http.response.body":
                got["body"] += message.get("body", b"")

        records.clear()
        await asyncio.wait_for(app(scope, receive, send), 30)
        return {"status": got["status"], "response": json.loads(got["body"]),
                "records": copy.deepcopy(records)}

    async def run() -> dict[str, Any]:
        results: dict[str, Any] = {}
        async with app.router.lifespan_context(app):
            for name, body in requests(tree, shared):
                for version in VERSIONS:
                    sent = copy.deepcopy(body)
                    if version:
                        sent.setdefault("extension", {})["davinci-crd.requestedVersion"] = version
                    sent["hookInstance"] = "d3f0e1a2-0000-4000-8000-000000000001"
                    key = f"{name} version={version}"
                    results[key] = first = await call(sent)
                    if first["status"] != 200 or not first["response"].get("systemActions"):
                        continue
                    again = with_own_coverage_information(sent, first["response"])
                    results[f"{key} again"] = await call(again)
                    earlier = json.loads(re.sub(r'"valueDate": "\d{4}-\d\d-\d\d"',
                                                '"valueDate": "2020-01-01"', json.dumps(again)))
                    results[f"{key} again, dated earlier"] = await call(earlier)
        return results

    results = asyncio.run(run())
    text = json.dumps(results, indent=1, sort_keys=True, default=str)
    seen: dict[str, str] = {}
    out.write_text(UUID.sub(lambda m: seen.setdefault(m.group(0), f"<uuid {len(seen)}>"), text))
    print(f"{config}: {len(results)} calls, "
          f"{sum(r['status'] == 200 for r in results.values())} answered 200")


def compare(old: Path, new: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="same-responses-"))
    shared = HERE.parent.parent / "shared"
    differ = 0
    for config in CONFIGS:
        outs = []
        for tree in (old, new):
            out = work / f"{tree.name}-{config}.json"
            done = subprocess.run([sys.executable, __file__, "capture", str(out), "--config",
                                   config, "--shared", str(shared)], cwd=tree,
                                  env={**os.environ, "PYTHONPATH": str(tree)})
            outs.append(json.loads(out.read_text()) if done.returncode == 0 else {})
        if not all(outs):
            differ += 1
            print(f"DIFFERENT ({config}): a tree could not run it")
            continue
        for key in sorted(set(outs[0]) | set(outs[1])):
            if outs[0].get(key) != outs[1].get(key):
                differ += 1
                if differ <= 10:
                    print(f"DIFFERENT ({config}): {key}")
    print("same answers and records" if not differ else f"{differ} calls differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("capture")
    one.add_argument("out", type=Path)
    one.add_argument("--config", choices=CONFIGS, default="default")
    one.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared")
    two = sub.add_parser("compare")
    two.add_argument("old", type=Path)
    two.add_argument("new", type=Path)
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.out, args.config, args.shared)
        return 0
    return compare(args.old.resolve(), args.new.resolve())


if __name__ == "__main__":
    sys.exit(main())
