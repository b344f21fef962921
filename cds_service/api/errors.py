"""The one place where exceptions become HTTP answers: a FHIR OperationOutcome, never a trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cds_service import metrics
from cds_service.api.jsonio import FHIRJSONResponse
from cds_service.errors import Issue, ServiceError, Unauthorized, operation_outcome
from cds_service.fhir.names import loggable_path
from cds_service.metrics import endpoint_of

log = logging.getLogger("cds_service.api")

_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


def outcome_response(status: int, issues: list[Issue],
                     headers: dict[str, str] | None = None) -> FHIRJSONResponse:
    return FHIRJSONResponse(operation_outcome(issues), status_code=status, headers=headers)


def www_authenticate(exc: Unauthorized) -> str:
    """RFC 6750 §3: a request without credentials gets the bare challenge (§3.1: no error
    information); any other refusal ``invalid_token`` with the bounded reason category (the
    metric's label, never anything from the token), so an integrator can tell the 401s apart."""
    if exc.category == "missing":
        return "Bearer"
    return f'Bearer error="invalid_token", error_description="{exc.category}"'


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> FHIRJSONResponse:
        headers = exc.headers() or None
        if isinstance(exc, Unauthorized):
            metrics.JWT_REJECTED.labels(exc.category).inc()
            log.warning("authentication failed: %s", exc.category, extra={
                "category": exc.category, "reason": exc.reason, "endpoint": _endpoint(request),
                **exc.log_fields})
            headers = {"WWW-Authenticate": www_authenticate(exc)}
        else:
            # Issue codes and element paths only: diagnostics can quote what the caller sent
            # (an order id, a selection), which may be patient data; the caller gets them. Paths
            # stop before a name we do not know (an unknown element is named by the caller).
            log.info("request refused", extra={
                "status": exc.status, "endpoint": _endpoint(request),
                "problem": "; ".join(
                    f"{i.code} at {', '.join(map(loggable_path, i.expression)) or '(request)'}"
                    for i in exc.issues)[:500]})
        return outcome_response(exc.status, exc.issues, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> FHIRJSONResponse:
        issues = [Issue("invalid", str(e.get("msg")), (".".join(map(str, e.get("loc", ()))),))
                  for e in exc.errors()]
        return outcome_response(400, issues)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> FHIRJSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        return outcome_response(exc.status_code, [Issue(code, str(exc.detail))],
                                dict(exc.headers) if exc.headers else None)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> FHIRJSONResponse:
        # The caller gave up (an EHR timeout): nothing to answer and nothing went wrong here.
        log.info("client disconnected before sending the whole request",
                 extra={"endpoint": _endpoint(request)})
        return outcome_response(400, [Issue("incomplete", "request body incomplete")])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> FHIRJSONResponse:
        # Only for an error outside the request guard (server.guard answers the others): the
        # server closes the connection after this answer, so it says so.
        response = internal_error(exc, request.url.path)
        response.headers["Connection"] = "close"
        return response


def _endpoint(request: Request) -> str:
    """The kind of endpoint called (a bounded word: the path itself is the caller's text)."""
    return endpoint_of(request.url.path)[0]


def internal_error(exc: Exception, path: str) -> FHIRJSONResponse:
    """The answer to an error nobody expected; what went wrong goes to the log only."""
    log.error("unexpected error", exc_info=exc, extra={"endpoint": endpoint_of(path)[0]})
    return outcome_response(500, [Issue("exception", "internal error; see the service log")])
