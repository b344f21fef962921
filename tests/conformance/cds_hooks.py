"""CDS Hooks 2.0 rules for a service's answers, each a function returning its problems as
``"<json path>: <message>"`` (an empty list means the rule holds).

Section names are those of the 2.0 spec (https://cds-hooks.hl7.org/2.0/); "CRD" marks a
Da Vinci CRD STU 2.2 rule that tightens an OPTIONAL 2.0 attribute.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .logical_model import TOOLS, Override

RESPONSE_MODEL = TOOLS + "CDSHooksResponse"
SERVICES_MODEL = TOOLS + "CDSHooksServices"
REQUEST_MODEL = TOOLS + "CDSHooksRequest"

# Where the tools-IG models and the CDS Hooks 2.0 text disagree, the spec wins.
RESPONSE_OVERRIDES = {
    # §CDS Service Response: "an object containing a cards array" (REQUIRED, [] = no guidance);
    # the model has cards 0..* and so accepts a response without it.
    "CDSHooksResponse.cards": Override(required_property=True),
    # §Card Attributes: indicator is REQUIRED; the model has 0..1.
    "CDSHooksResponse.cards.indicator": Override(min=1),
    # §Action: description is REQUIRED (systemActions share this definition, §System Action);
    # the model has 0..1 (3.0-ballot makes it optional for systemActions only, 2.0 does not).
    "CDSHooksResponse.cards.suggestions.actions.description": Override(min=1),
    # §Link: type is REQUIRED; the model has 0..1.
    "CDSHooksResponse.cards.links.type": Override(min=1),
    # The model wants an empty systemActions omitted (json-empty-behavior "absent"). Da Vinci CRD
    # order-sign is a primary hook that always answers with systemActions (§hook-16; Inferno's
    # crd_service_response_validation requires the key), so "systemActions": [] is allowed.
    "CDSHooksResponse.systemActions": Override(empty_behavior="present"),
}
SERVICES_OVERRIDES = {
    # §Discovery: the response "SHALL be an object containing a list of CDS Services"; model 0..*.
    "CDSHooksServices.services": Override(required_property=True, empty_behavior="present"),
}

INDICATORS = {"info", "warning", "critical"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def absolute_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def cards(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, card in enumerate(response.get("cards") or ()):
        yield f"$.cards[{i}]", card


def suggestions(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, card in cards(response):
        for i, suggestion in enumerate(card.get("suggestions") or ()):
            yield f"{where}.suggestions[{i}]", suggestion


def actions(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Suggestion actions and systemActions: both are Actions (§System Action)."""
    for where, suggestion in suggestions(response):
        for i, action in enumerate(suggestion.get("actions") or ()):
            yield f"{where}.actions[{i}]", action
    for i, action in enumerate(response.get("systemActions") or ()):
        yield f"$.systemActions[{i}]", action


def top_level_problems(response: Any, hook: str) -> list[str]:
    """§CDS Service Response: an object with a cards array; order-sign (a CRD primary hook)
    always has systemActions (§hook-16, Inferno crd_service_response_validation)."""
    if not isinstance(response, dict):
        return ["$: the response must be a JSON object"]
    problems = []
    if not isinstance(response.get("cards"), list):
        problems.append("$.cards: must be present and an array")
    if "systemActions" in response and not isinstance(response["systemActions"], list):
        problems.append("$.systemActions: must be an array")
    if hook == "order-sign" and not isinstance(response.get("systemActions"), list):
        problems.append("$.systemActions: order-sign (CRD primary hook) must always answer with "
                        "a systemActions array")
    return problems


def card_problems(response: dict[str, Any]) -> list[str]:
    """§Card Attributes and §Source, with CRD's tightening (uuid 1..1 in CRDHooksResponseBase,
    source.topic SHALL be present with system and code, §resp-5)."""
    problems = []
    for where, card in cards(response):
        if not _is_uuid(card.get("uuid")):
            problems.append(f"{where}.uuid: must be a UUID, got {card.get('uuid')!r}")
        summary = card.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            problems.append(f"{where}.summary: is required")
        elif len(summary) >= 140:
            problems.append(f"{where}.summary: must be under 140 characters ({len(summary)})")
        if card.get("indicator") not in INDICATORS:
            problems.append(f"{where}.indicator: {card.get('indicator')!r} is not one of "
                            "info | warning | critical")
        source = card.get("source")
        if not isinstance(source, dict) or not _nonempty_str(source.get("label")):
            problems.append(f"{where}.source.label: is required and must not be empty")
            continue
        topic = source.get("topic")
        if not isinstance(topic, dict) or not all(_nonempty_str(topic.get(k))
                                                  for k in ("system", "code")):
            problems.append(f"{where}.source.topic: must be a Coding with system and code")
        for key in ("url", "icon"):
            if key in source and not absolute_http_url(source[key]):
                problems.append(f"{where}.source.{key}: must be an absolute URL")
    return problems


def suggestion_problems(response: dict[str, Any]) -> list[str]:
    """§Card Attributes (selectionBehavior CONDITIONAL: required with suggestions), §Suggestion
    (label REQUIRED; uuid needed for feedback and SHALL per CRD §resp-3), invariant cds-resp-1."""
    problems = []
    for where, card in cards(response):
        if "suggestions" in card:
            if card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
                problems.append(f"{where}.selectionBehavior: must be at-most-one or any when "
                                "suggestions are present")
            recommended = [s for s in card["suggestions"] if s.get("isRecommended") is True]
            if card.get("selectionBehavior") == "at-most-one" and len(recommended) > 1:
                problems.append(f"{where}: at most one suggestion may be recommended")
    for where, suggestion in suggestions(response):
        if not _nonempty_str(suggestion.get("label")):
            problems.append(f"{where}.label: is required")
        if not _is_uuid(suggestion.get("uuid")):
            problems.append(f"{where}.uuid: must be a UUID, got {suggestion.get('uuid')!r}")
    return problems


def action_problems(response: dict[str, Any]) -> list[str]:
    """§Action: type and description REQUIRED; create/update carry the resource; delete names
    it by resourceId and carries no resource (invariant cds-resp-2)."""
    problems = []
    for where, action in actions(response):
        kind = action.get("type")
        if kind not in ACTION_TYPES:
            problems.append(f"{where}.type: {kind!r} is not one of create | update | delete")
        if not _nonempty_str(action.get("description")):
            problems.append(f"{where}.description: is required")
        resource = action.get("resource")
        if kind == "delete":
            rid = action.get("resourceId")
            if not isinstance(rid, str) or not _RELATIVE_REFERENCE.match(rid):
                problems.append(f"{where}.resourceId: a delete needs a relative reference "
                                f"(Type/id), got {rid!r}")
            if "resource" in action:
                problems.append(f"{where}.resource: a delete must not carry a resource")
        elif kind in ("create", "update") and (
                not isinstance(resource, dict) or not _nonempty_str(resource.get("resourceType"))):
            problems.append(f"{where}.resource: a {kind} must carry the whole FHIR resource")
    return problems


def override_reason_problems(response: dict[str, Any]) -> list[str]:
    """§Card Attributes: overrideReasons are Codings; the service MUST populate display
    (§Data Types: Coding code and system REQUIRED)."""
    problems = []
    for where, card in cards(response):
        for i, coding in enumerate(card.get("overrideReasons") or ()):
            missing = [k for k in ("code", "system", "display")
                       if not _nonempty_str(coding.get(k))]
            if missing:
                problems.append(f"{where}.overrideReasons[{i}]: missing {', '.join(missing)}")
    return problems


def link_problems(response: dict[str, Any]) -> list[str]:
    """§Link: label, url and type REQUIRED; appContext only on smart links (cds-resp-3). We
    launch no SMART app, so every link of ours is an absolute http(s) link (CRD External
    Reference: links of type absolute, §resp-18/19)."""
    problems = []
    for where, card in cards(response):
        for i, link in enumerate(card.get("links") or ()):
            here = f"{where}.links[{i}]"
            if not _nonempty_str(link.get("label")):
                problems.append(f"{here}.label: is required")
            if link.get("type") != "absolute":
                problems.append(f"{here}.type: must be absolute, got {link.get('type')!r}")
            if not absolute_http_url(link.get("url")):
                problems.append(f"{here}.url: must be an absolute http(s) URL, "
                                f"got {link.get('url')!r}")
            if "appContext" in link:
                problems.append(f"{here}.appContext: not valid on an absolute link")
    return problems


def empty_value_problems(value: Any, where: str = "$") -> list[str]:
    """§Use of JSON: no element is null or empty ("", [], {}) unless otherwise specified: only
    ``cards: []`` (no guidance) and, for CRD primary hooks, ``systemActions: []``."""
    problems = []
    if value is None or value in ("", [], {}):
        if where not in ("$.cards", "$.systemActions") or value != []:
            problems.append(f"{where}: {value!r} is not allowed (omit the element)")
    elif isinstance(value, dict):
        for key, item in value.items():
            problems += empty_value_problems(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problems += empty_value_problems(item, f"{where}[{i}]")
    elif isinstance(value, str) and value.strip() == "":
        problems.append(f"{where}: a blank string is not allowed")
    return problems


def uuids(response: dict[str, Any]) -> list[str]:
    """Every card and suggestion uuid, in order (duplicates kept)."""
    found = [c.get("uuid") for _, c in cards(response)]
    found += [s.get("uuid") for _, s in suggestions(response)]
    return [u for u in found if isinstance(u, str)]


def response_problems(response: Any, hook: str) -> list[str]:
    """All the rules above (what a reference request's answer must satisfy)."""
    problems = top_level_problems(response, hook)
    if problems:
        return problems
    problems = (card_problems(response) + suggestion_problems(response)
                + action_problems(response) + override_reason_problems(response)
                + link_problems(response) + empty_value_problems(response))
    ids = uuids(response)
    duplicates = sorted({u for u in ids if ids.count(u) > 1})
    if duplicates:
        problems.append(f"$: uuids used more than once: {duplicates}")
    return problems
