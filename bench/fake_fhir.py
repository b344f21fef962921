"""A local FHIR server for the fetch scenario: answers the coverage search with one Coverage."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

_COVERAGE = json.loads((Path(__file__).resolve().parents[1] / "fhir_examples" / "resources"
                        / "Coverage-cov-medicare-advantage.json").read_text())
_BUNDLE = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 1,
                      "entry": [{"resource": _COVERAGE, "search": {"mode": "match"}}]}).encode()

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/fhir/Coverage")
async def coverage() -> Response:
    return Response(_BUNDLE, media_type="application/fhir+json")
