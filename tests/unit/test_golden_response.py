"""Whole responses compared with reviewed golden files (ids and clock injected).

Set UPDATE_GOLDEN=1 to rewrite the files after an intended change, then review the diff.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from datetime import date

import pytest

from cds_service.api.hooks import parse_request
from cds_service.evaluate import Evaluator
from cds_service.hooks.registry import SERVICES
from cds_service.knowledge import load_knowledge
from tests.support import ROOT, example

GOLDEN = ROOT / "tests" / "data" / "golden"
CASES = ["order-sign-47383-medicare-advantage-hepatocellular-carcinoma",
         "order-sign-47371-commercial-colorectal-liver-metastases",
         "order-sign-47383-medicare-advantage-no-indication",
         "order-sign-47383-unknown-plan",
         "order-sign-mixed-orders"]


@pytest.mark.parametrize("name", CASES)
def test_response_matches_golden_file(name: str) -> None:
    counter = itertools.count(1)
    evaluator = Evaluator(load_knowledge(None, None), public_base_url="https://cds.payer.example",
                          new_id=lambda: f"00000000-0000-4000-8000-{next(counter):012d}",
                          today=lambda: date(2026, 11, 25))
    request = parse_request(example(name))
    service = next(s for s in SERVICES.values() if s.hook == request.hook)
    evaluation = asyncio.run(evaluator.evaluate(request, service, fetcher=None))
    actual = evaluation.response.to_json_dict()
    path = GOLDEN / f"{name}.response.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert actual == json.loads(path.read_text())
