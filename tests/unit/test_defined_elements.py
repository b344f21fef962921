"""``only_defined`` (the cheap walk ``ignored_in`` takes first) never says "nothing unknown" where
validating with fhir.resources finds an unknown element: checked on every resource in the
examples and the shared reference requests, and on copies of them with an unknown key or a
wrong shape put at random places."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from cds_service.fhir.clean import pruned
from cds_service.fhir.defined import _known_model, only_defined
from cds_service.fhir.validate import _model, ignored_in
from tests.support import EXAMPLES, REFERENCE, example_resource, require_shared, resources_in


def _all_resources() -> list[dict[str, Any]]:
    require_shared(REFERENCE)  # its requests are most of the walk's material
    found = []
    for path in sorted([*EXAMPLES.rglob("*.json"), *REFERENCE.rglob("*.json")]):
        found += resources_in(json.loads(path.read_text()))
    return found


def _unknown_by_validating(resource: dict[str, Any]) -> list[Any]:
    try:
        _model(resource.get("resourceType"), "resourceType").model_validate(pruned(resource))
    except ValidationError as exc:
        return [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
    return []


def _places(value: Any) -> Iterator[Any]:
    """Every object and array inside ``value``, ``value`` included."""
    if isinstance(value, (dict, list)):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _places(item)


def _mutated(resource: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    place = rng.choice(list(_places(copied)))
    oddity = rng.choice([{"localFlag": True}, "text", 3, [{"x": 1}], {"coding": "x"}, None])
    if isinstance(place, dict):
        key = rng.choice([*place, "ehrLocal", "_status", "resource_type", "class_fhir"])
        place[key] = oddity
    elif place:
        place[rng.randrange(len(place))] = oddity
    return copied


RESOURCES = _all_resources()


def test_the_examples_hold_resources_of_many_types() -> None:
    assert len({r["resourceType"] for r in RESOURCES}) >= 8 and len(RESOURCES) > 100


@pytest.mark.parametrize("seed", range(4))
def test_the_walk_never_clears_a_resource_the_validator_finds_unknown_elements_in(
        seed: int) -> None:
    rng = random.Random(seed)
    cleared = 0
    for resource in RESOURCES:
        for candidate in (resource, *(_mutated(resource, rng) for _ in range(3))):
            try:
                unknown = _unknown_by_validating(candidate)
            except Exception:  # shapes fhir.resources itself cannot read (KeyError, ...)
                continue
            if only_defined(candidate):
                cleared += 1
                assert unknown == [], candidate
    assert cleared > len(RESOURCES)  # the walk does clear most: it is not always "not sure"


def test_a_coverage_with_a_local_element_is_still_reported_by_path() -> None:
    coverage = example_resource("Coverage-cov-medicare-advantage")
    assert only_defined(coverage) and ignored_in(coverage) == ()
    coverage["class"][0]["ehrLocalPlanTier"] = "gold"
    assert not only_defined(coverage)
    assert ignored_in(coverage) == ("Coverage.class[0].ehrLocalPlanTier",)


def test_names_a_caller_makes_up_are_not_kept_without_bound() -> None:
    # resourceType is the caller's: a flood of made-up names must not grow the process.
    for i in range(3000):
        assert not only_defined({"resourceType": f"Made{i:06d}Up"})
        assert not only_defined({"resourceType": "x" * 10_000 + str(i)})
    assert _known_model.cache_info().currsize <= 1024
