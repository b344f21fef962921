"""POST /cds-services/{id}: one hook call (CDS Hooks 2.0 §Calling a CDS Service)."""

from __future__ import annotations

import logging
from collections import Counter

from pydantic import ValidationError
from starlette.requests import Request

from cds_service import metrics
from cds_service.api.jsonio import JSONResponse, read_json
from cds_service.errors import BadRequest, NotFound, ServiceError
from cds_service.evaluate import Evaluation
from cds_service.fhir.bounds import check_bounds
from cds_service.hooks.registry import SERVICES, ServiceDefinition
from cds_service.hooks.request import HookRequest
from cds_service.logs import hook_instance
from cds_service.respond import wording
from cds_service.runtime import Runtime

log = logging.getLogger("cds_service.hooks")
PATH = "/cds-services/{service_id}"
"""Served as a plain Starlette route (``main.create_app``): the handler reads its own body and
path parameter, so FastAPI's per-call dependency solving bought nothing and cost 0.05 to 0.1 ms
of CPU a call (measured in-process); its OpenAPI description is a row of ``api.openapi.ENDPOINTS``
either way."""


def service_or_404(service_id: str) -> ServiceDefinition:
    service = SERVICES.get(service_id)
    if service is None:
        raise NotFound(f"no CDS Service {service_id!r}; see GET /cds-services")
    return service


async def call_hook(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    service_id: str = request.path_params["service_id"]
    service = service_or_404(service_id)
    audience = rt.settings.service_url(f"cds-services/{service_id}")
    client = await rt.authenticate_call(request.headers.get("authorization"), audience)
    hook_request: HookRequest | None = None
    try:
        body = await read_json(request, max_bytes=rt.settings.max_body_bytes, max_depth=None)
        check_bounds(body, max_depth=rt.settings.max_json_depth,
                     max_contained=rt.settings.max_contained_resources,
                     max_references=rt.settings.max_references)
        hook_request = parse_request(body)
        hook_instance.set(hook_request.hook_instance)
        if hook_request.hook != service.hook:
            raise BadRequest(f"service {service.id!r} answers the {service.hook!r} hook, "
                             f"not {hook_request.hook!r}", expression="hook")
        fetcher = rt.fetcher_for(hook_request, client)  # claims the jti before its first query
        evaluation = await rt.evaluator.evaluate(hook_request, service, fetcher,
                                                 client_version=client.crd_version)
    except ServiceError as exc:
        await rt.record_refusal(service, hook_request, client, exc)
        raise
    await rt.record(service, hook_request, client, evaluation)
    count_answer(service, evaluation)
    log.info("hook answered", extra={
        "hookInstance": hook_request.hook_instance, "service": service.id, "iss": client.iss,
        "jti": client.jti, "cards": len(evaluation.response.cards),
        "systemActions": len(evaluation.response.system_actions or ()),
        "fetched": len(evaluation.fetched)})
    return JSONResponse(evaluation.response.to_json_dict())


def count_answer(service: ServiceDefinition, evaluation: Evaluation) -> None:
    metrics.HOOK_CALLS.labels(service.id, service.hook).inc()
    for finding, _ in evaluation.cards:
        answer = finding.answer
        metrics.CARDS.labels(finding.policy.id,
                             wording.phrase(answer) if answer else "plan unknown").inc()
    # One increment per label pair, not per action: a call may carry one per order.
    actions = Counter((a.policy_id or "", a.covered) for a, _, _ in evaluation.actions)
    for (policy_id, covered), count in actions.items():
        metrics.ACTIONS.labels(policy_id, covered).inc(count)


def parse_request(body: dict[str, object]) -> HookRequest:
    try:
        return HookRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest.from_validation(exc, "invalid hook request") from None
