"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cds_service.api.jsonio import JSONResponse
from cds_service.runtime import Runtime

router = APIRouter()
# HEAD as well as GET: some load balancers probe with HEAD (RFC 9110 §9.3.2: the same answer
# without its content). Left out of the API schema, which documents the GET.


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
@router.head("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    checks = await rt.readiness()
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
