"""``pruned`` returns values with nothing to drop as they are: the result must be what the
copying walk gives, for any shape, and the input must never change."""

from __future__ import annotations

import copy
import random
from typing import Any

from cds_service.fhir import clean


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([None, 1, "", "x", [], {}, 0, False])
    if roll < 0.65:
        keys = rng.sample(["a", "_a", "b", "_b", "c"], rng.randint(0, 4))
        return {key: _value(rng, depth + 1) for key in keys}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def test_pruned_equals_the_copying_walk_and_leaves_its_input_alone() -> None:
    rng = random.Random(11)
    for _ in range(20_000):
        value = _value(rng)
        before = copy.deepcopy(value)
        assert clean.pruned(value) == clean._pruned(value), before
        assert value == before


def test_a_clean_resource_is_returned_without_a_copy() -> None:
    order = {"resourceType": "ServiceRequest", "code": {"coding": [{"code": "47383"}]},
             "_status": {"extension": []}}
    assert clean.pruned(order) == {"resourceType": "ServiceRequest",
                                   "code": {"coding": [{"code": "47383"}]}}
    del order["_status"]
    assert clean.pruned(order) is order
