"""GET /records/stats: how clinicians reacted to our cards, per policy (read-only, for payer
staff dashboards). Payer-wide, so only for the payer's operators (``auth/operators.py``): a
trusted EHR's JWT does not open it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cds_service.api.jsonio import JSONResponse
from cds_service.errors import BadRequest, NotFound
from cds_service.runtime import Runtime
from cds_service.store.clock import parse_since
from cds_service.store.stats import reason_labels

router = APIRouter()


@router.get("/records/stats")
async def stats(request: Request, since: str | None = None) -> JSONResponse:
    """``since``: an ISO 8601 date or date-time; only cards returned from then on count."""
    rt: Runtime = request.app.state.runtime
    rt.operators.check(request.headers.get("authorization"))
    if rt.records is None:
        raise NotFound("this deployment keeps no records (CDS_RECORD_DECISIONS=false)")
    try:
        start = parse_since(since) if since is not None else None
    except ValueError:
        raise BadRequest(f"since: not an ISO 8601 date or date-time: {since!r}",
                         expression="since") from None
    summary = await rt.records.stats(since=start, reason_labels=reason_labels(
        rt.evaluator.override_system, rt.knowledge.override_reasons()))
    # Counts only, no patient data; still nothing for a shared cache to keep.
    return JSONResponse(summary, headers={"Cache-Control": "no-store"})
