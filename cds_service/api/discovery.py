"""GET /cds-services (CDS Hooks 2.0 §Discovery)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cds_service.api.jsonio import JSONResponse
from cds_service.hooks.registry import SERVICES
from cds_service.runtime import Runtime

router = APIRouter()


@router.get("/cds-services")
async def discovery(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    if not rt.settings.discovery_public:
        await rt.authenticator.authenticate(request.headers.get("authorization"),
                                            [rt.settings.service_url("cds-services")])
    card_types = rt.knowledge.card_types()
    return JSONResponse({"services": [s.discovery(card_types) for s in SERVICES.values()]})
