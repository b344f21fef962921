"""POST /cds-services/{id}/feedback: how the clinician acted on our cards (CDS Hooks 2.0
§Feedback). Authenticated as hook calls are (§Feedback: "as described in Trusting CDS Clients");
2.0 defines no response, so a small JSON summary comes back with 200."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from pydantic import ValidationError

from cds_service import metrics
from cds_service.api.hooks import service_or_404
from cds_service.api.jsonio import JSONResponse, read_json
from cds_service.errors import BadRequest, NotFound
from cds_service.hooks.feedback import FeedbackRequest
from cds_service.runtime import Runtime
from cds_service.store.feedback import feedback_records
from cds_service.store.stats import reason_labels

log = logging.getLogger("cds_service.feedback")
router = APIRouter()


@router.post("/cds-services/{service_id}/feedback")
async def post_feedback(service_id: str, request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    service = service_or_404(service_id)
    # The client may sign for the feedback URL or, as some do, for the service URL it called.
    client = await rt.authenticator.authenticate(request.headers.get("authorization"), [
        rt.settings.service_url(f"cds-services/{service_id}/feedback"),
        rt.settings.service_url(f"cds-services/{service_id}")])
    if rt.records is None:
        raise NotFound("this deployment does not collect feedback (CDS_RECORD_DECISIONS=false)")
    body = await read_json(request, max_bytes=rt.settings.max_body_bytes,
                           max_depth=rt.settings.max_json_depth)
    parsed = parse_feedback(body)
    shown = reason_labels(rt.evaluator.override_system, rt.knowledge.override_reasons())
    result = await rt.records.save_feedback(feedback_records(service.id, client, parsed, shown))
    count_feedback(service.id, parsed, set(rt.knowledge.override_reasons()))
    log.info("feedback received: %d item(s), %d new, %d repeated", result.received,
             result.stored, result.duplicates,
             extra={"service": service.id, "iss": client.iss, "tenant": client.tenant,
                    "jti": client.jti})
    return JSONResponse(result.to_json())


def count_feedback(service_id: str, parsed: FeedbackRequest, ours: set[str]) -> None:
    """Metric labels stay bounded: a reason code we never offered counts as 'other'."""
    for item in parsed.feedback:
        metrics.FEEDBACK.labels(service_id, item.outcome).inc()
        if item.outcome == "overridden":
            reason = item.override_reason.reason if item.override_reason else None
            label = "none" if reason is None else reason.code if reason.code in ours else "other"
            metrics.OVERRIDE_REASONS.labels(label).inc()


def parse_feedback(body: dict[str, object]) -> FeedbackRequest:
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest.from_validation(exc, "invalid feedback") from None
