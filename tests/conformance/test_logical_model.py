"""Our discovery response and our answers to every fhir_examples request conform to the FHIR
Tooling IG logical models of CDS Hooks, with the CDS Hooks 2.0 rules laid over them where the two
differ; and the checker itself rejects what it should (a checker that cannot fail is a defect)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .cds_hooks import (
    REQUEST_MODEL,
    RESPONSE_MODEL,
    RESPONSE_OVERRIDES,
    SERVICES_MODEL,
    SERVICES_OVERRIDES,
)
from .conftest import Call
from .data import EXAMPLES as EXAMPLES_ROOT
from .data import REFERENCE, example_requests, load_json
from .logical_model import ENUMS, INVARIANTS, LogicalModels

EXAMPLES = example_requests()
EXAMPLES_DIR = EXAMPLES_ROOT / "requests"

GOOD_CARD: dict[str, Any] = {
    "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
    "summary": "Not covered for this member: CPT 47383",
    "indicator": "warning",
    "source": {"label": "Example payer",
               "topic": {"system": "http://example.org/topics", "code": "guideline"}},
    "links": [{"label": "Policy", "url": "https://example.org/policy", "type": "absolute"}],
    "suggestions": [{"label": "Remove the order", "uuid": "0941cda0-91d7-42db-b5af-0ebbef2507bf",
                     "actions": [{"type": "delete", "description": "Remove it",
                                  "resourceId": "ServiceRequest/1"}]}],
    "selectionBehavior": "at-most-one",
    "overrideReasons": [{"system": "http://example.org/reasons", "code": "agreed",
                         "display": "Member agreed to pay"}],
}
GOOD_RESPONSE: dict[str, Any] = {"cards": [GOOD_CARD], "systemActions": []}


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    response = copy.deepcopy(GOOD_RESPONSE)
    change(response)
    return response


def _card(response: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = response["cards"][0]
    return card


BROKEN_RESPONSES = {
    "missing summary": (_broken(lambda r: _card(r).pop("summary")), "$.cards[0].summary"),
    "indicator outside the enum": (
        _broken(lambda r: _card(r).update(indicator="hard-stop")), "$.cards[0].indicator"),
    "appContext on an absolute link": (
        _broken(lambda r: _card(r)["links"][0].update(appContext="{}")), "cds-resp-3"),
    "missing indicator (2.0 REQUIRED, model 0..1)": (
        _broken(lambda r: _card(r).pop("indicator")), "$.cards[0].indicator"),
    "no cards property (2.0 REQUIRED, model 0..*)": (
        _broken(lambda r: r.pop("cards")), "$.cards"),
    "link without type (2.0 REQUIRED, model 0..1)": (
        _broken(lambda r: _card(r)["links"][0].pop("type")), "$.cards[0].links[0].type"),
    "systemAction without description (2.0 REQUIRED, model 0..1)": (
        _broken(lambda r: r.update(systemActions=[
            {"type": "update", "resource": {"resourceType": "ServiceRequest"}}])),
        "$.systemActions[0].description"),
    "suggestions without selectionBehavior": (
        _broken(lambda r: _card(r).pop("selectionBehavior")), "cds-resp-6"),
    "delete action carrying a resource": (
        _broken(lambda r: _card(r)["suggestions"][0]["actions"][0].update(
            resource={"resourceType": "ServiceRequest"})), "cds-resp-2"),
    "override reason without display": (
        _broken(lambda r: _card(r)["overrideReasons"][0].pop("display")), "cds-resp-4"),
    "two cards in a single-valued source": (
        _broken(lambda r: _card(r).update(source=[_card(r)["source"]])), "$.cards[0].source"),
    "uuid that is not a UUID": (
        _broken(lambda r: _card(r).update(uuid="card-1")), "$.cards[0].uuid"),
    "summary that is a number": (
        _broken(lambda r: _card(r).update(summary=42)), "$.cards[0].summary"),
    "unknown card property": (
        _broken(lambda r: _card(r).update(severity="high")), "$.cards[0].severity"),
    "null detail": (_broken(lambda r: _card(r).update(detail=None)), "$.cards[0].detail"),
    "empty links array": (_broken(lambda r: _card(r).update(links=[])), "$.cards[0].links"),
    "empty extension object": (
        _broken(lambda r: _card(r).update(extension={})), "$.cards[0].extension"),
    "action type outside the enum": (
        _broken(lambda r: _card(r)["suggestions"][0]["actions"][0].update(type="remove")),
        "actions[0].type"),
}


def test_the_checker_accepts_a_conforming_response(models: LogicalModels) -> None:
    assert models.check(GOOD_RESPONSE, RESPONSE_MODEL, RESPONSE_OVERRIDES) == []


@pytest.mark.parametrize("case", sorted(BROKEN_RESPONSES))
def test_the_checker_rejects_a_broken_response(models: LogicalModels, case: str) -> None:
    response, expected = BROKEN_RESPONSES[case]
    problems = models.check(response, RESPONSE_MODEL, RESPONSE_OVERRIDES)
    assert any(expected in p for p in problems), problems


def test_the_spec_overrides_are_what_rejects_the_spec_only_rules(models: LogicalModels) -> None:
    # The tools-IG model alone accepts these; the CDS Hooks 2.0 rules laid over it do not.
    for case in ("missing indicator (2.0 REQUIRED, model 0..1)",
                 "no cards property (2.0 REQUIRED, model 0..*)",
                 "link without type (2.0 REQUIRED, model 0..1)",
                 "systemAction without description (2.0 REQUIRED, model 0..1)"):
        response, expected = BROKEN_RESPONSES[case]
        assert not any(expected in p for p in models.check(response, RESPONSE_MODEL)), case
    # ... and the model wants an empty systemActions omitted, which CRD order-sign overrides.
    assert models.check(GOOD_RESPONSE, RESPONSE_MODEL) == [
        "$.systemActions: must not be an empty array (omit it)"]


def test_the_checker_rejects_a_broken_discovery_response(models: LogicalModels) -> None:
    broken = {"services": [{"hook": "order-sign", "title": 7,
                            "prefetch": {"patient": None, "coverage": 3}}]}
    problems = models.check(broken, SERVICES_MODEL, SERVICES_OVERRIDES)
    for expected in ("$.services[0].id: is required", "$.services[0].description: is required",
                     "$.services[0].title: must be a JSON string",
                     "$.services[0].prefetch.patient: must not be null",
                     "$.services[0].prefetch.coverage: must be a JSON string"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    assert models.check({}, SERVICES_MODEL, SERVICES_OVERRIDES) == ["$.services: is required"]


def test_the_checker_picks_the_hook_context_model_by_hook(models: LogicalModels) -> None:
    request = load_json(EXAMPLES_DIR / "order-sign-47383-commercial-hepatocellular-carcinoma.json")
    assert models.check(request, REQUEST_MODEL) == []
    context = dict(request["context"], selections=["ServiceRequest/sr-1"])
    # selections belongs to the order-select context only (type-specifier on hook)
    assert models.check(dict(request, hook="order-select", context=context), REQUEST_MODEL) == []
    assert models.check(dict(request, context=context), REQUEST_MODEL) == [
        "$.context.selections: is not an element of this model"]
    bad = dict(request, hook="order-select",
               hookInstance="urn:uuid:" + request["hookInstance"],
               context=dict(context, selections=["not a reference"]),
               fhirAuthorization={"access_token": "t", "token_type": "Bearer",
                                  "expires_in": "300", "scope": "Patient/pat-cryo-1",
                                  "subject": "s"})
    bad.pop("fhirServer", None)
    problems = models.check(bad, REQUEST_MODEL)
    for expected in ("$.hookInstance: must be written without the implied 'urn:uuid:'",
                     "$: invariant cds-r-1 fails", "$.fhirAuthorization: invariant cds-r-2",
                     "$.fhirAuthorization.expires_in: must be a JSON integer",
                     "$.context.selections[0]: invariant ord-1 fails"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_the_checker_knows_every_invariant_and_binding_of_the_models(
        models: LogicalModels) -> None:
    # Loading refuses models with an unknown invariant or required binding; prove the models
    # use the ones we implement, so none of them is dead code.
    keys = {k for m in models.models.values() for e in m.elements.values() for k in e.constraints}
    bindings = {e.binding for m in models.models.values() for e in m.elements.values()
                if e.binding}
    assert keys == set(INVARIANTS)
    assert bindings == set(ENUMS)


@pytest.mark.parametrize(("name", "model"), [
    ("cds-hooks/fhir-tools-ig/binary-CDSHooksResponse.json", RESPONSE_MODEL),
    ("cds-hooks/extracted-from-spec/spec2.0.1_response-cards.json", RESPONSE_MODEL),
    ("cds-hooks/fhir-tools-ig/binary-CDSHookServices.json", SERVICES_MODEL),
    ("cds-hooks/extracted-from-spec/spec2.0.1_discovery-response.json", SERVICES_MODEL),
    ("crd/ig-2.2.1_cds-services_discovery.json", SERVICES_MODEL),
])
def test_the_checker_accepts_the_published_examples(models: LogicalModels, name: str,
                                                    model: str) -> None:
    overrides = RESPONSE_OVERRIDES if model == RESPONSE_MODEL else SERVICES_OVERRIDES
    assert models.check(load_json(REFERENCE / name), model, overrides) == []


def test_the_spec_systemactions_example_lacks_the_description_2_0_requires(
        models: LogicalModels) -> None:
    # Known erratum of the 2.0.1 text (its System Action example); the checker must see it.
    example = load_json(REFERENCE / "cds-hooks/extracted-from-spec/"
                        "spec2.0.1_response-systemActions.json")
    assert models.check(example, RESPONSE_MODEL) == []
    assert models.check(example, RESPONSE_MODEL, RESPONSE_OVERRIDES) == [
        "$.systemActions[0].description: is required"]


# -- our answers -------------------------------------------------------------------------------

def test_discovery_conforms_to_the_cds_hooks_services_model(
        models: LogicalModels, cds_client: Any) -> None:
    response = cds_client.get("/cds-services")
    assert response.status_code == 200
    assert models.check(response.json(), SERVICES_MODEL, SERVICES_OVERRIDES) == []


# Examples of what real CDS Clients send that the specification does not allow, and we accept.
NONCONFORMING_EXAMPLES = {
    # The Da Vinci CRD request generator against an open FHIR server (issue 9).
    "order-sign-47383-commercial-empty-access-token.json": [
        "$.fhirAuthorization.access_token: string must be non-empty, without surrounding "
        "whitespace"],
}


# The FHIR-tooling IG in the reference material models the order-select and order-sign contexts
# only; the appointment-book and order-dispatch examples are checked by our own context models
# (they are answered 200 in test_response_conforms_to_the_cds_hooks_response_model).
MODELLED_HOOKS = ("order-select", "order-sign")


@pytest.mark.parametrize("path", [p for p in EXAMPLES if load_json(p)["hook"] in MODELLED_HOOKS],
                         ids=lambda p: p.name)
def test_example_request_conforms_to_the_cds_hooks_request_model(
        models: LogicalModels, path: Path) -> None:
    assert models.check(load_json(path), REQUEST_MODEL) == NONCONFORMING_EXAMPLES.get(path.name, [])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_response_conforms_to_the_cds_hooks_response_model(
        models: LogicalModels, call: Call, path: Path) -> None:
    response = call(load_json(path))
    assert response.status_code == 200, response.text
    assert models.check(response.json(), RESPONSE_MODEL, RESPONSE_OVERRIDES) == []
