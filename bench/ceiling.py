"""The ceiling app: the same server stack doing only the unavoidable work of a hook answer.

It reads the body, verifies the caller's ES384 JWT exactly as a CDS service must (signature, aud,
exp, iat), and returns a fixed card. No policy, no FHIR, no records: the service under test is
measured against this, so the ratio shows what our own work costs on top of the floor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jwt
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

_JWKS = json.loads(Path(os.environ["CEILING_JWKS"]).read_text())
_KEYS = jwt.PyJWKSet.from_dict(_JWKS)
_BASE = os.environ["CEILING_BASE_URL"].rstrip("/")
CARD = orjson.dumps({"cards": [{
    "uuid": "6f1c3f4e-7a52-4d6b-9a1e-2f0c1b2a3d4e",
    "summary": "Not covered for this Medicare Advantage member: cryosurgical ablation of liver "
               "tumors (CPT 47383)",
    "indicator": "warning", "source": {"label": "Payer"}}], "systemActions": []})


def new_app() -> FastAPI:
    """A bare app with the route the benchmark polls until the server is up."""
    bare = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @bare.get("/ready")
    async def ready() -> Response:
        return Response(b"{}", media_type="application/json")
    return bare


app = new_app()


@app.post("/cds-services/{service_id}")
async def hook(service_id: str, request: Request) -> Response:
    await request.body()
    verify(request.headers.get("authorization", ""), service_id)
    return Response(CARD, media_type="application/json")


def verify(authorization: str, service_id: str) -> dict[str, Any]:
    """The token's claims once its signature, aud, exp and iat are checked; else 401."""
    token = authorization.removeprefix("Bearer ")
    try:
        kid = jwt.get_unverified_header(token)["kid"]
        claims: dict[str, Any] = jwt.decode(
            token, _KEYS[kid], algorithms=["ES384"],
            audience=f"{_BASE}/cds-services/{service_id}",
            options={"require": ["iss", "aud", "exp", "iat", "jti"]})
    except Exception as exc:
        raise HTTPException(401) from exc
    return claims
