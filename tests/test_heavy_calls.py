"""A call within the request limits costs work in proportion to its size: the member's Coverage
is read once per call, not once per order (800 orders and a Coverage of 2,000 classes took 39 s
when it was read for each). Counted, not timed: the timing lives in the attack tests' figures
(docs) and bench/."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service import evaluate
from tests.support import call, example

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"


def heavy(orders: int, classes: int) -> dict[str, Any]:
    """The reviewer's request: ``orders`` copies of the matching order, and a Coverage with
    ``classes`` plan classes (the one that maps the member's line of business last) and an
    element R4 does not define."""
    body = example(SIGN)
    entry = body["context"]["draftOrders"]["entry"][0]
    copies = []
    for i in range(orders):
        order = copy.deepcopy(entry)
        order["resource"]["id"] = f"sr-{i}"
        order["fullUrl"] = f"{entry['fullUrl']}-{i}"
        copies.append(order)
    body["context"]["draftOrders"]["entry"] = copies
    coverage = body["prefetch"]["coverage"]["entry"][0]["resource"]
    mapped = coverage["class"][-1]
    coverage["class"] = [{"type": {"coding": [{"system": COVERAGE_CLASS, "code": "plan"}]},
                          "value": f"OTHER-{i}"} for i in range(classes - 1)] + [mapped]
    coverage["unknownElement"] = {"chosen": "by the caller"}
    return body


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls: list[int] = []
    original: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_the_member_coverage_is_read_once_per_call_however_many_orders(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    validated = counting(monkeypatch, evaluate, "ignored_in")
    mapped = counting(monkeypatch, evaluate.cov, "line_of_business")
    response = call(client, heavy(orders=800, classes=2000))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["systemActions"]) == 800
    assert len(answer["cards"]) >= 1
    assert "Medicare Advantage" in answer["cards"][0]["summary"]  # the last class still maps
    assert (len(validated), len(mapped)) == (1, 1)
