"""Full FHIR R4 validation of the resources a decision depends on (``fhir.resources`` R4B).

R4B and R4 share the structure of the resources we read (ServiceRequest, Coverage, Condition,
Patient); R5 does not, so the R5 default package must never be used here.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds_service.errors import BadRequest, Issue

# Bindings are not enforced by fhir.resources; these two drive our answer, so check them here.
_REQUEST_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                   "unknown"}
_REQUEST_INTENT = {"proposal", "plan", "directive", "order", "original-order", "reflex-order",
                   "filler-order", "instance-order", "option"}


def _element_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate_resource(resource: dict[str, Any], path: str) -> None:
    """Raise BadRequest naming each problem by its FHIRPath-like location under ``path``."""
    rtype = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(rtype))
    except (KeyError, ValueError):
        # fhir.resources raises KeyError for unknown names: must not become a 500.
        raise BadRequest(f"unknown FHIR resourceType {rtype!r}",
                         expression=f"{path}.resourceType") from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = [
            Issue("structure", f"{rtype}: {err['msg']}", (path + _element_path(err["loc"]),))
            for err in exc.errors()
        ]
        raise BadRequest("invalid FHIR resource", issues=issues) from None
    if rtype == "ServiceRequest":
        problems = []
        if resource.get("status") not in _REQUEST_STATUS:
            problems.append(Issue("code-invalid", "ServiceRequest.status is not a RequestStatus",
                                  (f"{path}.status",)))
        if resource.get("intent") not in _REQUEST_INTENT:
            problems.append(Issue("code-invalid", "ServiceRequest.intent is not a RequestIntent",
                                  (f"{path}.intent",)))
        if problems:
            raise BadRequest("invalid FHIR resource", issues=problems)
