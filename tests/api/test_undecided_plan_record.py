"""The record of an order whose policy does not decide for the member's plan: the policy, the
member's line of business and the indeterminate assertion (no card was shown)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from tests.api.conftest import Service
from tests.store.helpers import assertion_ids
from tests.support import call, example, recorded_decision, write_bundled_policy


def test_the_record_names_the_policy_and_the_plan_it_does_not_decide(
        make_service: Callable[..., Service], tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    bundled = yaml.safe_load(write_bundled_policy(policies).read_text())
    write_bundled_policy(policies, determinations={
        "commercial": bundled["determinations"]["commercial"]})
    service = make_service(policy_dir=policies)
    answer = call(service.http, example(
        "order-sign-47383-medicare-advantage-hepatocellular-carcinoma")).json()
    assert answer["cards"] == []
    records = service.runtime.records
    assert records is not None
    record = recorded_decision(records.db, assertion_ids(answer)[0])
    [order] = record["orders"]
    assert order["policy"] == {"id": "cryosurgical-ablation-liver-tumors", "version": "2021-12"}
    assert order["lineOfBusiness"] == "medicare-advantage"
    assert order["covered"] == "indeterminate"
    assert record["cards"] == []
    assert record["coverageAssertions"][0]["policy"]["id"] == "cryosurgical-ablation-liver-tumors"
