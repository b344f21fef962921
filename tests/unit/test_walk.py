"""``walk`` reads every order's codes, dates and references level by level: it must give what
the plain recursive reading gives (the values at the path, repeating elements flattened, wrong
shapes skipped, in document order), for any shape of input."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from cds_service.fhir.coding import elements
from cds_service.fhir.orders import Ext, Path, walk

URL = "urn:ext"


def recursive(value: Any, path: Path) -> Iterator[Any]:
    if not path:
        yield from (v for v in (value if isinstance(value, list) else [value]) if v is not None)
        return
    step, rest = path[0], path[1:]
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        if isinstance(step, Ext):
            for ext in elements(item.get("extension")):
                if isinstance(ext, dict) and ext.get("url") == step.url:
                    yield from recursive(ext, rest)
        else:
            yield from recursive(item.get(step), rest)


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.25:
        return rng.choice([None, 1, "", "x", [], {}, False, URL])
    if roll < 0.7:
        keys = rng.sample(["a", "b", "extension", "url", "valueX"], rng.randint(0, 4))
        return {key: _value(rng, depth + 1) for key in keys}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


PATHS: list[Path] = [(), ("a",), ("a", "b"), ("b", "a", "b"), (Ext(URL),),
                     (Ext(URL), "valueX"), ("a", Ext(URL), "valueX"), ("extension", "url")]


def test_walk_gives_what_the_recursive_reading_gives_for_any_shape() -> None:
    rng = random.Random(22)
    for _ in range(20_000):
        value = _value(rng)
        if rng.random() < 0.3 and isinstance(value, dict):
            value["extension"] = [{"url": URL, "valueX": _value(rng, 3)}, _value(rng, 3)]
        for path in PATHS:
            assert walk(value, path) == list(recursive(value, path)), (value, path)
