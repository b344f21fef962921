"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cds_service.api.jsonio import JSONResponse
from cds_service.runtime import Runtime

router = APIRouter()
# HEAD as well as GET: some load balancers probe with HEAD (RFC 9110 §9.3.2: the same answer
# without its content).


@router.api_route("/healthz", methods=["GET", "HEAD"])
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.api_route("/readyz", methods=["GET", "HEAD"])
async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    checks = await rt.readiness()
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
