"""What the Inferno Da Vinci CRD server suite asserts, as plain functions over one request and our
response (a port of inferno-framework/davinci-crd-test-kit @1d1f2c43, CRD 2.0.1:
lib/davinci_crd_test_kit/cards_validation.rb, suggestion_actions_validation.rb,
cards_identification.rb, server_tests/*.rb). Each function returns the suite's error messages
(empty: the suite's test passes). Where the suite validates a resource against a CRD 2.0.1 profile
with the HL7 Java validator, R4 validation (fhir.resources) and the 2.0.1 definition of the
coverage-information extension (ig_definitions.py, from the IG's FSH) stand in for it.
"""

from __future__ import annotations

import re
from typing import Any

from .crd import COVERAGE_INFORMATION, coverage_extensions, resource_problems
from .ig_definitions import extension_problems

SYSTEM_ACTION_HOOKS = {"appointment-book", "order-sign", "order-dispatch"}
REQUEST_TYPES = ["DeviceRequest", "MedicationRequest", "NutritionOrder", "ServiceRequest",
                 "VisionPrescription"]
# coverage_information_system_action_received_test.rb: resources_by_hook.
COVERAGE_INFO_RESOURCES = {"appointment-book": ["Appointment"], "order-sign": REQUEST_TYPES,
                           "order-dispatch": REQUEST_TYPES, "order-select": REQUEST_TYPES}
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def _typed(obj: Any, fields: dict[str, type], what: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{what} is not an object"]
    return [f"`{what}.{name}` is missing or not a {kind.__name__}"
            for name, kind in fields.items() if not isinstance(obj.get(name), kind)]


# -- crd_service_request_required_fields_validation (checks the tester's request) ---------------

def request_required_fields(request: dict[str, Any]) -> list[str]:
    errors = _typed(request, {"hook": str, "hookInstance": str, "context": dict}, "request")
    auth = request.get("fhirAuthorization")
    if auth is not None:
        if not isinstance(request.get("fhirServer"), str):
            errors.append("`fhirServer` is required when `fhirAuthorization` is present")
        errors += _typed(auth, {"access_token": str, "token_type": str, "expires_in": int,
                                "scope": str, "subject": str}, "fhirAuthorization")
        if isinstance(auth, dict) and auth.get("token_type") != "Bearer":
            errors.append("`fhirAuthorization.token_type` must be `Bearer`")
    return errors


# -- crd_service_response_validation ------------------------------------------------------------

def action_errors(action: Any) -> list[str]:
    """suggestion_actions_validation.rb action_fields_validation."""
    errors = _typed(action, {"type": str, "description": str}, "Action")
    if errors:
        return errors
    kind = action["type"]
    if kind not in ("create", "update", "delete"):
        return [f"Action type value `{kind}` is not allowed"]
    if kind in ("create", "update"):
        resource = action.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return [f"`Action.resource` must be a FHIR resource for `{kind}` actions"]
        return []
    rid = action.get("resourceId")
    if not isinstance(rid, str) or not _REFERENCE.match(rid):
        return ["`delete` Action `resourceId` must be a reference Type/id"]
    return []


def card_errors(card: Any) -> list[str]:
    """cards_validation.rb cards_check: required fields, summary, indicator, source."""
    errors = _typed(card, {"summary": str, "indicator": str, "source": dict}, "Card")
    if errors:
        return errors
    if len(card["summary"]) >= 140:
        errors.append("`summary` is over the 140-character limit")
    if card["indicator"] not in ("info", "warning", "critical"):
        errors.append(f"`indicator` is `{card['indicator']}`")
    errors += _typed(card["source"], {"label": str, "topic": dict}, "Source")
    if isinstance(card["source"].get("topic"), dict):
        errors += _typed(card["source"]["topic"], {"code": str, "system": str}, "Source topic")
    return errors


def response_errors(hook: str, body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["response is not a JSON object"]
    cards = body.get("cards")
    if not isinstance(cards, list):
        return ["response did not have the `cards` field as an array"]
    errors = [e for card in cards for e in card_errors(card)]
    actions = body.get("systemActions")
    if hook in SYSTEM_ACTION_HOOKS and actions is None:
        errors.append(f"`systemActions` must be present for the `{hook}` hook")
    if actions is not None:
        if not isinstance(actions, list):
            return [*errors, "`systemActions` is not an array"]
        errors += [e for action in actions for e in action_errors(action)]
    return errors


# -- crd_card_optional_fields_validation --------------------------------------------------------

def card_optional_errors(card: dict[str, Any]) -> list[str]:
    kinds = {"uuid": str, "detail": str, "suggestions": list, "overrideReasons": list,
             "links": list}
    errors = [f"`Card.{k}` is not a {t.__name__}" for k, t in kinds.items()
              if k in card and not isinstance(card[k], t)]
    if card.get("suggestions") and card.get("selectionBehavior") not in ("at-most-one", "any"):
        errors.append("`Card.selectionBehavior` must be at-most-one or any with suggestions")
    for reason in card.get("overrideReasons") or ():
        errors += _typed(reason, {"code": str, "system": str, "display": str},
                         "OverrideReason Coding")
    for link in card.get("links") or ():
        errors += _typed(link, {"label": str, "type": str, "url": str}, "Link")
        if isinstance(link, dict) and link.get("type") not in ("absolute", "smart"):
            errors.append("`Link.type` must be `absolute` or `smart`")
        if isinstance(link, dict) and link.get("type") == "absolute" and link.get("appContext"):
            errors.append("`appContext` is not valid for absolute links")
    for suggestion in card.get("suggestions") or ():
        errors += _typed(suggestion, {"label": str}, "Suggestion")
        actions = suggestion.get("actions") if isinstance(suggestion, dict) else None
        if actions is not None:
            if not isinstance(actions, list) or not actions:
                errors.append("Suggestion `actions` must be a non-empty array")
            else:
                errors += [e for action in actions for e in action_errors(action)]
    return errors


# -- response types (cards_identification.rb) ---------------------------------------------------

def is_external_reference(card: dict[str, Any]) -> bool:
    links = card.get("links")
    return links is not None and all(link.get("type") == "absolute" for link in links)


def is_instructions(card: dict[str, Any]) -> bool:
    return not card.get("links") and not card.get("suggestions")


def coverage_info_actions(hook: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """crd_coverage_info_system_action_received: actions on the hook's resource types carrying
    the coverage-information extension."""
    wanted = COVERAGE_INFO_RESOURCES.get(hook, [])
    return [a for a in body.get("systemActions") or ()
            if (a.get("resource") or {}).get("resourceType") in wanted
            and coverage_extensions(a.get("resource"))]


def coverage_info_action_errors(action: dict[str, Any], version: str = "2.0.1") -> list[str]:
    """crd_coverage_info_system_action_validation: an update, the resource valid against its
    CRD profile (here: R4 and the release's coverage-information definition), and per coverage
    one coverage-assertion-id and at most one satisfied-pa-id, distinct across coverages."""
    errors = []
    if action.get("type") != "update":
        errors.append(f"`type` must be `update`, but was `{action.get('type')}`")
    resource = action.get("resource") or {}
    errors += resource_problems(resource)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for ext in resource.get("extension") or ():
        if ext.get("url") != COVERAGE_INFORMATION:
            continue
        errors += extension_problems(ext, version)
        parts = ext.get("extension") or ()
        coverage = next((p["valueReference"].get("reference") for p in parts
                         if p.get("url") == "coverage" and "valueReference" in p), None)
        grouped.setdefault(str(coverage), []).append(ext)
    seen_ids: set[str] = set()
    seen_pa: set[str] = set()
    for coverage, extensions in grouped.items():
        ids = {p.get("valueString") for e in extensions for p in e.get("extension") or ()
               if p.get("url") == "coverage-assertion-id"}
        pa_ids = {p.get("valueString") for e in extensions for p in e.get("extension") or ()
                  if p.get("url") == "satisfied-pa-id"}
        if len(ids) != 1:
            errors.append(f"coverage `{coverage}` has different coverage-assertion-ids")
        if len(pa_ids) > 1:
            errors.append(f"coverage `{coverage}` has different satisfied-pa-ids")
        if ids & seen_ids or pa_ids & seen_pa:
            errors.append("extensions referencing differing coverage SHALL have distinct ids")
        seen_ids |= {i for i in ids if i}
        seen_pa |= {i for i in pa_ids if i}
    return errors
