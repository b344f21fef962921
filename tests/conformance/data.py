"""Where the conformance tests find their inputs: our fhir_examples and the shared reference
material (``shared/`` beside the clone: /work/shared when the repo is /work/main, and the same
layout in CI). Nothing here is copied into the project; a missing file or folder of it is one
line naming it (tests.support.require_shared)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx2
import yaml

from tests.support import SHARED, require_shared

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = SHARED / "reference"
EXAMPLES = REPO_ROOT / "fhir_examples"
FHIR_TOOLS_IG = REFERENCE / "cds-hooks" / "fhir-tools-ig"

SERVICE_IDS = {"order-select": "crd-order-select", "order-sign": "crd-order-sign",
               "appointment-book": "crd-appointment-book",
               "order-dispatch": "crd-order-dispatch"}
EHR_COVERAGE_ID = "ehr-coverage"


def fake_ehr(request: httpx2.Request) -> httpx2.Response:
    """The EHR's FHIR server, for requests that prefetch nothing: a Coverage search finds the
    patient's one active Coverage (typed with no SOPT code, so no line of business); every read
    finds nothing."""
    if request.url.path.endswith("/Coverage"):
        patient = request.url.params.get("patient", "")
        coverage = {"resourceType": "Coverage", "id": EHR_COVERAGE_ID, "status": "active",
                    "beneficiary": {"reference": f"Patient/{patient}"},
                    "payor": [{"display": "Payer"}]}
        return httpx2.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                          "entry": [{"resource": coverage}]},
                               headers={"Content-Type": "application/fhir+json"})
    return httpx2.Response(404)


def payors(body: dict[str, Any]) -> set[str]:
    """The payer names (``Coverage.payor.display``) of the Coverages a request prefetches."""
    found = set()
    for value in (body.get("prefetch") or {}).values():
        if not isinstance(value, dict):
            continue
        bundle = value.get("resourceType") == "Bundle"
        for entry in (value.get("entry") or []) if bundle else [{"resource": value}]:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") == "Coverage":
                found |= {p.get("display") for p in resource.get("payor") or []
                          if isinstance(p.get("display"), str)}
    return found


def load_json(path: Path) -> Any:
    if path.is_relative_to(REFERENCE):
        require_shared(path)
    return json.loads(path.read_text(encoding="utf-8"))


def files(folder: Path, *patterns: str) -> list[Path]:
    """The files matching any pattern, sorted; an error (not an empty parametrization, which
    pytest would skip) when the folder is missing or nothing matches."""
    require_shared(folder)
    found = sorted({p for pattern in patterns for p in folder.glob(pattern)})
    if not found:
        raise FileNotFoundError(f"nothing matches {patterns} in {folder}")
    return found


def example_requests() -> list[Path]:
    """Our example requests the service answers with 200 (scenarios.yaml names the others)."""
    refused = {name for name, item in scenarios().items() if "status" in item["expect"]}
    return [p for p in files(EXAMPLES / "requests", "*.json") if p.name not in refused]


def matched_orders(path: Path) -> set[str]:
    """``Type/id`` of the example's orders whose coverage information cites a policy."""
    return {want["order"] for want in scenarios()[path.name]["expect"]["coverage_information"]
            if want.get("billing_code")}


def scenarios() -> dict[str, dict[str, Any]]:
    """scenarios.yaml keyed by request file name."""
    items = yaml.safe_load((EXAMPLES / "scenarios.yaml").read_text(encoding="utf-8"))
    return {Path(item["request"]).name: item for item in items}


def examples_with_coverage_information() -> list[Path]:
    expected = scenarios()
    return [p for p in example_requests()
            if expected[p.name]["expect"].get("coverage_information")]


def reference_requests() -> list[Path]:
    """Every complete hook request in the reference material."""
    return (files(REFERENCE / "crd", "*request*.json")
            + files(REFERENCE / "cds-hooks" / "inferno-davinci-crd-test-kit", "*.json"))


def library_contexts() -> list[Path]:
    return files(REFERENCE / "cds-hooks" / "extracted-from-spec", "library_order-*_context-R4.json")


def library_request(path: Path) -> dict[str, Any]:
    """A library example context (``{"context": ...}``) wrapped into a full hook request."""
    hook = "order-select" if "order-select" in path.name else "order-sign"
    return {"hook": hook, "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, path.name)),
            **load_json(path)}
