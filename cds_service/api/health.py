"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cds_service.api.jsonio import JSONResponse
from cds_service.runtime import Runtime

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    checks = await rt.readiness()
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
