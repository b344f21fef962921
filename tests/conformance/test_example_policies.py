"""The example policies' answers (fhir_examples/policies, issue 17) are valid CRD coverage
information in each version a client may ask for: CRD 2.2 by default (invariants q1-q9), and the
2.1 shapes with ``requestedVersion`` 2.1; across the examples every ``covered`` and ``pa-needed``
value a policy states appears, and ``doc-needed`` and ``info-needed`` do."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Call
from .crd import _parts, answer_problems, coverage_actions, coverage_extensions
from .data import examples_with_coverage_information, load_json, scenarios

EXAMPLE_POLICY_REQUESTS = [p for p in examples_with_coverage_information()
                           if scenarios()[p.name].get("policy_dir") == "policies"]


@pytest.mark.parametrize("version", ["2.2", "2.1"])
@pytest.mark.parametrize("path", EXAMPLE_POLICY_REQUESTS, ids=lambda p: p.name)
def test_example_policy_answers_are_valid_in_each_crd_version(
        call: Call, path: Path, version: str) -> None:
    request = load_json(path)
    request["extension"] = {"davinci-crd.requestedVersion": version}
    response = call(request)
    assert response.status_code == 200, response.text
    actions = list(coverage_actions(response.json()))
    assert actions
    for where, action in actions:
        assert answer_problems(action, request, version) == [], where


def test_the_examples_show_every_answer(call: Call) -> None:
    seen: dict[str, set[str]] = {}
    for path in examples_with_coverage_information():
        for _, action in coverage_actions(call(load_json(path)).json()):
            for ext in coverage_extensions(action["resource"]):
                for sub in _parts(ext):
                    if "valueCode" in sub:
                        seen.setdefault(sub["url"], set()).add(sub["valueCode"])
    assert {"covered", "not-covered", "conditional"} <= seen["covered"]
    assert {"auth-needed", "no-auth"} <= seen["pa-needed"]
    assert seen["doc-needed"] and seen["info-needed"]
