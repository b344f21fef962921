"""Helpers shared by the tests: example files, reference paths, and calling the API."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds_service.config import Settings
from cds_service.hooks.registry import SERVICES
from cds_service.store.db import Database
from cds_service.store.decisions import decisions_with_assertion, load_decision

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "fhir_examples"
SHARED = ROOT.parent / "shared"
"""The reference material beside the clone (never copied into the project; CI lays it there)."""
REFERENCE = SHARED / "reference"
POLICY_DOCUMENT = SHARED / "policy" / "cryosurgical-ablation-liver-tumors.txt"
HOOK_SERVICE = {s.hook: s.id for s in SERVICES.values()}
EXAMPLE_POLICIES = EXAMPLES / "policies"
EXAMPLE_PAYER = EXAMPLES / "payer.yaml"
WITH_EXAMPLES: dict[str, Any] = {"policy_dir": EXAMPLE_POLICIES, "payer_file": EXAMPLE_PAYER}
"""Settings of the service as a reader runs the example policies: with their fictional payer's
payer file (a policy of another payer than the payer file's is refused)."""


def resources_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every FHIR resource (an object with a string ``resourceType``) anywhere in ``value``, a
    request or a resource, nested ones included, in document order."""
    if isinstance(value, dict):
        if isinstance(value.get("resourceType"), str):
            yield value
        for item in value.values():
            yield from resources_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from resources_in(item)


def require_shared(*paths: Path) -> None:
    """Stop a test, or a whole module when called at its top, that reads ``paths`` under
    ../shared if one is missing, with one line naming it: a skip on a developer's machine, a
    failure in CI (CI=true), where the material is always laid beside the clone."""
    for path in paths:
        if not path.exists():
            reason = (f"{path} is missing: these tests read the shared reference material, "
                      f"expected at {SHARED} beside the clone")
            if os.environ.get("CI") == "true":
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason, allow_module_level=True)


def example(name: str) -> dict[str, Any]:
    path = EXAMPLES / "requests" / name
    if not path.suffix:
        path = path.with_suffix(".json")
    return json.loads(path.read_text())


def example_resource(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / "resources" / f"{name}.json").read_text())


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "development", "auth_enabled": False, "record_decisions": False,
        "database_url": f"sqlite:///{tmp_path / 'records.db'}",
        "public_base_url": "https://cds.payer.example",
    }
    values.update(overrides)
    return Settings(**values)


def call(client: TestClient, body: dict[str, Any], service: str | None = None) -> Any:
    """POST a hook request to the service for its hook, as an EHR would."""
    service = service or HOOK_SERVICE.get(str(body.get("hook")), "crd-order-sign")
    return client.post(f"/cds-services/{service}", json=body)


def assert_outcome(response: Any, status: int, *, mentions: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] and all(i["severity"] and i["code"] for i in outcome["issue"])
    if mentions:
        text = json.dumps(outcome)
        assert mentions in text, text
    return outcome


BUNDLED_POLICY = "cryosurgical-ablation-liver-tumors"


def write_bundled_policy(directory: Path, *, retold: bool = False, **fields: Any) -> Path:
    """The bundled policy copied into ``directory`` with its document, ``fields`` replacing its
    own. ``retold``: as a version "2026-12" whose Commercial determination uses the Medicare
    Advantage wording (the Commercial card then says "Not covered", verbatim from the document)."""
    from cds_service.policy.loader import BUNDLED_DIR

    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{BUNDLED_POLICY}.txt").write_text(
        (BUNDLED_DIR / f"{BUNDLED_POLICY}.txt").read_text())
    data = yaml.safe_load((BUNDLED_DIR / f"{BUNDLED_POLICY}.yaml").read_text())
    if retold:
        determinations = data["determinations"]
        data.update(version="2026-12", determinations={**determinations, "commercial": {
            **determinations["medicare-advantage"], "heading": "Commercial"}})
    data.update(fields)
    path = directory / f"{BUNDLED_POLICY}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_versioned_policy(directory: Path) -> Path:
    """The bundled policy as its 2021-12 version (in force from 2021-12-01), after a made-up
    2020-01 version (from 2020-01-01) whose Commercial determination used the Medicare Advantage
    wording ("not covered"): one file, two YAML documents. Returns ``directory``."""
    from cds_service.policy.loader import BUNDLED_DIR

    bundled = yaml.safe_load((BUNDLED_DIR / f"{BUNDLED_POLICY}.yaml").read_text())
    older = {**bundled, "version": "2020-01", "effective": "2020-01-01",
             "determinations": {**bundled["determinations"], "commercial": {
                 **bundled["determinations"]["medicare-advantage"], "heading": "Commercial"}}}
    newer = {**bundled, "effective": "2021-12-01"}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{BUNDLED_POLICY}.txt").write_text(
        (BUNDLED_DIR / f"{BUNDLED_POLICY}.txt").read_text())
    (directory / f"{BUNDLED_POLICY}.yaml").write_text(
        yaml.safe_dump_all([older, newer], sort_keys=False))
    return directory


def recorded_decision(db: Database, assertion_id: str) -> dict[str, Any]:
    """The one decision record that returned ``assertion_id``, as the records API reads it."""
    with db.read() as conn:
        [decision_id] = decisions_with_assertion(conn, assertion_id)
        loaded = load_decision(conn, decision_id)
    assert loaded is not None
    return loaded
