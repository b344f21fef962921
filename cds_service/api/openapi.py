"""GET /openapi.json and GET /docs: every endpoint with the schemas of what it reads and answers.

The routers read their bodies themselves (size and depth limits, OperationOutcome errors), so
FastAPI cannot see the models; this module describes each endpoint as a row of ``ENDPOINTS``,
naming the same pydantic models the routers validate with (``HookRequest``, ``HookResponse``,
``FeedbackRequest``) and models of the answers the routers build as plain JSON (OperationOutcome,
discovery, the feedback summary), which tests compare with real answers. The Swagger UI assets
come from the ``fastapi-offline`` package and are served by us: no page loads anything from a CDN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.routing import Route

from cds_service.hooks.feedback import FeedbackRequest
from cds_service.hooks.registry import SERVICES
from cds_service.hooks.request import HookRequest
from cds_service.hooks.response import HookResponse

FHIR_JSON = "application/fhir+json"
BEARER = "ehrJwt"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OperationOutcomeIssue(_Doc):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str = Field(description="FHIR IssueType code, e.g. invalid, security, not-found")
    diagnostics: str
    expression: list[str] | None = Field(
        default=None, description="FHIRPath-like location in the request, when one applies")


class OperationOutcome(_Doc):
    """Every error answer (FHIR R4 OperationOutcome); never a stack trace."""

    resource_type: Literal["OperationOutcome"] = Field(alias="resourceType")
    issue: list[OperationOutcomeIssue] = Field(min_length=1)


class CdsService(_Doc):
    """One service of the discovery answer (CDS Hooks 2.0 §Discovery)."""

    hook: str
    id: str
    title: str
    description: str
    usage_requirements: str = Field(alias="usageRequirements")
    prefetch: dict[str, str]
    extension: dict[str, Any] = Field(
        description="davinci-crd.version and davinci-crd.configuration-options")


class Discovery(_Doc):
    services: list[CdsService]


class FeedbackSummary(_Doc):
    """What became of the feedback items sent (2.0 defines no feedback response body)."""

    received: int
    stored: int
    duplicates: int = Field(description="items already stored before (the same clinician action)")
    unknown_cards: int = Field(alias="unknownCards",
                               description="items naming a card this service did not return")


@dataclass(frozen=True)
class Endpoint:
    summary: str
    ok: type[BaseModel] | str | None
    """The 200 answer: a model, or a media type for non-JSON answers."""
    request: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    token: bool = False
    description: str = ""
    tag: str = "CDS Hooks"


_HOOK = "The EHR's hook request; its context is the service's: " + "; ".join(
    f"{s.id}: {s.hook} ({s.context_model.__name__})" for s in SERVICES.values()) + "."

ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("get", "/cds-services"): Endpoint(
        "Discovery: the CDS Services offered", Discovery, errors=(401,), token=True,
        description="Needs a token unless CDS_DISCOVERY_PUBLIC=true."),
    ("post", "/cds-services/{service_id}"): Endpoint(
        "Call a CDS Service (" + ", ".join(s.hook for s in SERVICES.values()) + ")",
        HookResponse, HookRequest,
        errors=(400, 401, 404, 412, 413, 503), token=True, description=_HOOK + (
            " The answer has cards and Da Vinci CRD coverage-information systemActions "
            "(always an array on the primary hooks order-sign, order-dispatch and "
            "appointment-book).")),
    ("post", "/cds-services/{service_id}/feedback"): Endpoint(
        "Feedback: how the clinician acted on our cards", FeedbackSummary, FeedbackRequest,
        errors=(400, 401, 404, 413), token=True),
    ("get", "/records/stats"): Endpoint(
        "Reactions to our cards per policy", "application/json", errors=(400, 401, 404),
        token=True, tag="Records"),
    ("get", "/policies"): Endpoint("The payer's medical policies (HTML)", "text/html",
                                   tag="Pages"),
    ("get", "/policies/{policy_id}"): Endpoint(
        "One policy, an anchor per section (HTML)", "text/html", errors=(404,), tag="Pages"),
    ("get", "/policies/{policy_id}/versions/{version}"): Endpoint(
        "One version of a policy with several, as cards cite it (HTML)", "text/html",
        errors=(404,), tag="Pages"),
    ("get", "/policies/{policy_id}/preview"): Endpoint(
        "Every card the policy can produce, as an EHR shows it (HTML)", "text/html",
        errors=(400, 404), tag="Pages", description=(
            "member, code and indication narrow it to the scenarios with that value, as the "
            "page's filter form names them; a value no scenario has is a 400.")),
    ("get", "/CodeSystem/override-reason"): Endpoint(
        "The override reasons offered on cards (FHIR CodeSystem)", FHIR_JSON, tag="Pages"),
    ("get", "/healthz"): Endpoint("Liveness", "application/json", tag="Operations"),
    ("get", "/readyz"): Endpoint(
        "Readiness: policies loaded and records database answering", "application/json",
        tag="Operations", description="503 with the failing check named when not ready."),
    ("get", "/metrics"): Endpoint("Prometheus metrics (text)", "text/plain", tag="Operations"),
}

_ERRORS = {400: "Malformed or invalid request", 401: "No valid JWT from a trusted client",
           404: "Unknown service or policy, or the feature is off",
           412: "Data neither prefetched nor obtainable from the EHR",
           413: "Request body too large",
           503: "The decision record cannot be written in time (database outage); Retry-After"}
_SCHEMA_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (HookRequest, "validation"),
    *((m, "validation") for m in dict.fromkeys(s.context_model for s in SERVICES.values())),
    (FeedbackRequest, "validation"),
    (HookResponse, "serialization"), (Discovery, "serialization"),
    (FeedbackSummary, "serialization"), (OperationOutcome, "serialization"),
]
REF = "#/components/schemas/{model}"


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                         description="Payer CDS Hooks 2.0 / Da Vinci CRD service. "
                                     "See the documentation (docs/) for settings and trust.")
    _, definitions = models_json_schema(_SCHEMA_MODELS, ref_template=REF)
    components = schema.setdefault("components", {})
    components["schemas"] = definitions.get("$defs", {})
    components["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A JWT signed by a trusted EHR, aud = the URL called "
                       "(CDS Hooks 2.0 \u00a7Trusting CDS Clients)."}}
    paths = schema.setdefault("paths", {})
    for route in app.routes:
        # Plain Starlette routes (the hook endpoint: no dependency solving per call) are not in
        # FastAPI's schema; each gets the same bare operation FastAPI would have written.
        if type(route) is Route and route.include_in_schema:
            for method in sorted(m.lower() for m in route.methods or () if m != "HEAD"):
                paths.setdefault(route.path, {})[method] = {"parameters": [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in route.param_convertors], "responses": {}}
    for path, operations in paths.items():
        for method, operation in operations.items():
            doc = ENDPOINTS.get((method, path))
            if doc is not None:
                _describe(operation, doc)
    return schema


def _describe(operation: dict[str, Any], doc: Endpoint) -> None:
    operation["summary"] = doc.summary
    operation["tags"] = [doc.tag]
    if doc.description:
        operation["description"] = doc.description
    if doc.token:
        operation["security"] = [{BEARER: []}]
    if doc.request is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": REF.format(model=doc.request.__name__)}}}}
    responses: dict[str, Any] = {}
    if isinstance(doc.ok, str):
        responses["200"] = {"description": "OK", "content": {doc.ok: {}}}
    elif doc.ok is not None:
        responses["200"] = {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": REF.format(model=doc.ok.__name__)}}}}
    outcome = {"schema": {"$ref": REF.format(model=OperationOutcome.__name__)}}
    for status in doc.errors:
        responses[str(status)] = {"description": _ERRORS[status],
                                  "content": {"application/json": outcome, FHIR_JSON: outcome}}
    operation["responses"] = responses
