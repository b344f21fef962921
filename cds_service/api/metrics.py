"""GET /metrics (Prometheus). Carries counts only, no patient data; restrict it at the network."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from cds_service.metrics import exposition

router = APIRouter()


@router.get("/metrics")
async def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
