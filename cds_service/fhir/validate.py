"""FHIR R4 validation of the resources a decision depends on (``fhir.resources`` R4B).

R4B and R4 share the structure of the resources we read (ServiceRequest, Coverage, Condition,
Patient); R5 does not, so the R5 default package must never be used here.

Reading is lenient (``fhir.lenient``): elements R4 does not define are dropped and reported, not
refused. What remains must be valid R4, else the caller gets a 400 naming each element's path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel, ValidationError

from cds_service.errors import BadRequest, Issue, json_path, plain_message
from cds_service.fhir.clean import pruned
from cds_service.fhir.conforms import conforms
from cds_service.fhir.conforms import prepare as prepare_quick_check
from cds_service.fhir.defined import only_defined
from cds_service.fhir.lenient import noted, without

# Bindings are not enforced by fhir.resources; these two drive our answer, so check them here.
_REQUEST_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                   "unknown"}
_REQUEST_INTENT = {"proposal", "plan", "directive", "order", "original-order", "reflex-order",
                   "filler-order", "instance-order", "option"}
_ABSTRACT = {"Resource", "DomainResource"}
_ROUNDS = 3
"""Validation passes that drop unknown elements; unknown elements nested in unknown elements are
reported together with their parent, so two passes suffice for any input."""


@dataclass(frozen=True)
class Reading:
    resource: dict[str, Any]
    """The resource as received, less the elements R4 does not define."""
    ignored: tuple[str, ...] = ()
    """Paths of the dropped elements (``ServiceRequest.code.coding[0].localFlag``)."""


def prepare(resource_types: Iterable[str]) -> None:
    """Make ready now (at start-up) what validating these resource types needs on first use."""
    prepare_quick_check(get_fhir_model_class(name) for name in resource_types)


def validate_resource(resource: dict[str, Any], path: str) -> Reading:
    """The resource ready to use, or BadRequest naming each problem by its path under ``path``."""
    rtype = resource.get("resourceType")
    model = _model(rtype, f"{path}.resourceType")
    assert isinstance(rtype, str)
    # Nulls and empty arrays or objects mean "absent" in FHIR JSON (and are invalid there).
    current = pruned(resource)
    if current is resource and conforms(model, current):
        # The common case, at a fifth of the cost: what the model would accept (conforms.py),
        # with nothing pruned (else a nested resourceType pruning removed, null or empty,
        # would go unrefused) and nothing unknown dropped; only the coded elements below
        # remain to check.
        problems = _request_codes(rtype, current, path, flagged=set())
        if problems:
            raise BadRequest("invalid FHIR resource", issues=problems)
        return Reading(current)
    _check_resource_types(resource, path)
    dropped: list[tuple[int | str, ...]] = []
    for _ in range(_ROUNDS):
        errors = _errors(model, current, path)
        unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]
        if not unknown:
            break
        dropped += unknown
        current = without(current, unknown)
    else:
        errors = _errors(model, current, path)
    problems = [
        Issue("required" if e["type"] == "model_field_validation.missing" else "structure",
              f"{json_path(e['loc'], rtype)}: {plain_message(e, fhir=True)}",
              (json_path(e["loc"], path),))
        for e in errors if e["type"] != "extra_forbidden"]
    problems += _request_codes(rtype, current, path,
                               flagged={issue.expression for issue in problems})
    if problems:
        raise BadRequest("invalid FHIR resource", issues=problems)
    return Reading(current, noted(rtype, dropped))


def _request_codes(rtype: str, resource: dict[str, Any], path: str,
                   flagged: set[tuple[str, ...]]) -> list[Issue]:
    """The bound codes our answer depends on (fhir.resources leaves bindings unchecked), unless
    the element was already found wrong."""
    problems = []
    if rtype == "ServiceRequest":
        if (f"{path}.status",) not in flagged and resource.get("status") not in _REQUEST_STATUS:
            problems.append(Issue("code-invalid", "ServiceRequest.status is not a RequestStatus",
                                  (f"{path}.status",)))
        if (f"{path}.intent",) not in flagged and resource.get("intent") not in _REQUEST_INTENT:
            problems.append(Issue("code-invalid", "ServiceRequest.intent is not a RequestIntent",
                                  (f"{path}.intent",)))
    return problems


def _model(rtype: Any, where: str) -> type[BaseModel]:
    if (isinstance(rtype, str) and rtype[:1].isupper() and rtype.isalnum()
            and rtype not in _ABSTRACT):
        try:
            model = get_fhir_model_class(rtype)
        except (KeyError, ValueError):
            pass  # fhir.resources raises KeyError for unknown names: must not become a 500.
        else:
            # The same lookup also answers data types (CodeableConcept): not resources.
            if issubclass(model, Resource):
                return model
    raise BadRequest("resourceType is not a FHIR R4 resource type", expression=where)


def _check_resource_types(value: Any, path: str) -> None:
    """Every nested resource (``contained``, a Bundle's entries, ...) names a resource type R4
    defines: fhir.resources looks the name up while validating and fails with a KeyError or a
    TypeError (a 500) on any other value."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(item, dict) and "resourceType" in item:
                _model(item["resourceType"], f"{where}.resourceType")
            _check_resource_types(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if isinstance(item, dict) and "resourceType" in item:
                _model(item["resourceType"], f"{where}.resourceType")
            _check_resource_types(item, where)


def _errors(model: type[BaseModel], resource: dict[str, Any], path: str) -> list[Any]:
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return list(exc.errors())
    except (KeyError, TypeError, ValueError, AttributeError):
        # A shape fhir.resources does not expect (seen: nested resources without a usable
        # resourceType). The resource is unusable; say so rather than answer 500.
        raise BadRequest("the resource is not FHIR R4 JSON the service can read",
                         expression=path) from None
    return []


def ignored_in(resource: dict[str, Any]) -> tuple[str, ...]:
    """Paths of the elements R4 does not define in a resource we read without needing it valid
    (the member's Coverage, a reason's Condition): we read those by walking the JSON, so unknown
    elements are ignored anyway; this says which, for the decision record. Nothing else about
    the resource is judged here."""
    if only_defined(resource):
        return ()  # the common case, without the cost of validating (defined.py)
    rtype = resource.get("resourceType")
    try:
        model = _model(rtype, "resourceType")
        model.model_validate(pruned(resource))
    except ValidationError as exc:
        unknown = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
        return noted(str(rtype), unknown)
    except (BadRequest, KeyError, TypeError, ValueError, AttributeError):
        return ()
    return ()
