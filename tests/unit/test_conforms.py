"""The quick check (``fhir.conforms``) may say "not sure" freely, but never "valid" for a resource
fhir.resources refuses: the orders of every bundled example and of the shared CRD reference
requests, and thousands of mutations of them, go through both."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds_service.errors import BadRequest
from cds_service.fhir.clean import pruned
from cds_service.fhir.conforms import conforms
from cds_service.fhir.orders import ORDER_TYPES
from cds_service.fhir.validate import validate_resource
from tests.support import EXAMPLES, REFERENCE, require_shared, resources_in

VALUES: list[Any] = [
    None, "", " ", "x", "many", "draft", "order", "2025-06-02", "2025-13-02", "2025-06-02T09:30",
    "2025-06-02T09:30:00Z", "2025-06-02T09:30:00+25:00", "1.5", "urn:uuid:not-a-uuid",
    "http://example.org/a b", "a\u0000b", "Patient/1", 0, -1, 1, 3.5, 10**20, True, False,
    [], {}, [None], ["x"], [1], [{}], {"value": 1}, {"text": "x"}, {"reference": "Patient/1"},
    {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}, {"url": "u"},
    {"resourceType": "Patient"}, {"value": "many", "unit": "mg"}, {"start": "2025"},
    json.dumps({"text": "x"}),
]


def _corpus() -> list[dict[str, Any]]:
    files = sorted((EXAMPLES / "requests").glob("*.json"))
    require_shared(REFERENCE / "crd")
    files += sorted((REFERENCE / "crd").rglob("*request*.json"))
    found = {json.dumps(order, sort_keys=True): order
             for path in files for order in resources_in(json.loads(path.read_text("utf-8")))
             if order["resourceType"] in ORDER_TYPES}
    return [pruned(order) for order in found.values()]


def _accepted(resource: dict[str, Any]) -> bool:
    model = get_fhir_model_class(resource["resourceType"])
    try:
        model.model_validate(resource)
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "resourceType" or path:
                yield (*path, key)
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i)
            yield from _places(item, (*path, i))


def _mutated(order: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(order)
    for _ in range(rng.randint(1, 3)):
        places = list(_places(out))
        if not places:
            break
        *parent_path, last = rng.choice(places)
        parent: Any = out
        for step in parent_path:
            parent = parent[step]
        roll = rng.random()
        if roll < 0.5:
            parent[last] = copy.deepcopy(rng.choice(VALUES))
        elif roll < 0.65 and isinstance(parent, dict):
            del parent[last]
        elif roll < 0.75:
            parent[last] = [parent[last]]  # a single element made an array
        elif roll < 0.85 and isinstance(parent[last], list) and parent[last]:
            parent[last] = parent[last][0]  # an array made a single element
        elif isinstance(parent, dict):
            # Another element of the resource, or of the object, or an unknown one.
            model = get_fhir_model_class(out["resourceType"])
            names = [f.alias or n for n, f in model.model_fields.items()] + ["localFlag", "_x"]
            target = out if rng.random() < 0.5 else parent
            target[rng.choice(names)] = copy.deepcopy(rng.choice(VALUES))
    return out


def test_every_example_order_is_judged_as_the_model_judges_it() -> None:
    corpus = _corpus()
    assert len(corpus) >= 20, "the examples and reference requests hold the CRD order types"
    types = {order["resourceType"] for order in corpus}
    assert types >= {"ServiceRequest", "MedicationRequest", "DeviceRequest", "Appointment"}
    quick = [order["resourceType"] for order in corpus if conforms(
        get_fhir_model_class(order["resourceType"]), order)]
    for order in corpus:
        if conforms(get_fhir_model_class(order["resourceType"]), order):
            assert _accepted(order), order
    # The quick path is the common one: real orders take it (else it would be dead weight).
    assert len(quick) >= len(corpus) * 0.6, (len(quick), len(corpus))
    assert set(quick) >= {"ServiceRequest", "MedicationRequest", "Appointment"}


@pytest.mark.parametrize("seed", range(4))
def test_no_mutated_order_is_called_valid_that_the_model_refuses(seed: int) -> None:
    rng = random.Random(seed)
    corpus = _corpus()
    said_valid = refused = 0
    for _ in range(2_500):
        order = _mutated(rng.choice(corpus), rng)
        if "resourceType" not in order or order["resourceType"] not in ORDER_TYPES:
            continue
        model = get_fhir_model_class(order["resourceType"])
        if conforms(model, order):
            said_valid += 1
            assert _accepted(order), json.dumps(order)[:2000]
        elif not _accepted(order):
            refused += 1
    # Both answers were exercised, so the assertion above could have failed.
    assert said_valid > 200 and refused > 200, (said_valid, refused)


def test_what_the_quick_check_leaves_to_the_model() -> None:
    model = get_fhir_model_class("ServiceRequest")
    order = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
             "subject": {"reference": "Patient/1"}}
    assert conforms(model, order)
    # Valid, but not modelled here: the full validation decides.
    assert not conforms(model, {**order, "_status": {"extension": [{"url": "u",
                                                                     "valueString": "x"}]}})
    assert not conforms(model, {**order, "contained": [{"resourceType": "Patient", "id": "p"}]})
    # Invalid: a required element missing, two types of one choice, a malformed value.
    assert not conforms(model, {k: v for k, v in order.items() if k != "subject"})
    assert not conforms(model, {**order, "occurrenceDateTime": "2025-06-02",
                                "occurrencePeriod": {"start": "2025-06-02"}})
    assert not conforms(model, {**order, "quantityQuantity": {"value": "many"}})
    assert not conforms(model, {**order, "localFlag": True})
    # Another resource type than the model's (the model refuses it).
    assert not conforms(model, {**order, "resourceType": "Patient"})
    assert not conforms(model, {**order, "resourceType": 5})


@pytest.mark.parametrize("element", [
    {"subject": {"reference": "Patient/1", "resourceType": None}},
    {"code": {"text": "x", "resourceType": ""}},
    {"note": [{"resourceType": None}]},
])
def test_a_nested_resource_type_is_refused_even_when_pruning_would_remove_it(
        element: dict[str, Any]) -> None:
    order = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/1"}, **element}
    with pytest.raises(BadRequest) as refused:
        validate_resource(order, "draftOrders.entry[0].resource")
    assert refused.value.issues[0].expression[0].endswith(".resourceType")


def test_a_plainly_valid_order_reads_as_it_did() -> None:
    order = next(o for o in _corpus() if o["resourceType"] == "ServiceRequest"
                 and conforms(get_fhir_model_class("ServiceRequest"), o))
    reading = validate_resource(order, "order")
    assert reading.resource is order and reading.ignored == ()
    with pytest.raises(BadRequest, match="invalid FHIR resource"):
        validate_resource({**order, "status": "pending"}, "order")  # not a RequestStatus
