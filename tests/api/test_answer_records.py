"""The decision record keeps every coded answer of a coverage assertion (issue 17), on each test
database: pa-needed, doc-needed, doc-purpose, info-needed, and the further policies an order's
assertion combined; read back as payer staff do, by coverage-assertion-id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import Service
from tests.store.helpers import assertion_ids
from tests.support import WITH_EXAMPLES, call, example, recorded_decision


@pytest.fixture
def examples(make_service: Callable[..., Service]) -> Service:
    return make_service(**WITH_EXAMPLES)


def recorded_assertion(service: Service, name: str) -> dict[str, Any]:
    response = call(service.http, example(name))
    assert response.status_code == 200, response.text
    [assertion_id] = assertion_ids(response.json())
    records = service.runtime.records
    assert records is not None
    loaded = recorded_decision(records.db, assertion_id)
    [assertion] = loaded["coverageAssertions"]
    assert assertion["coverageAssertionId"] == assertion_id
    return dict(assertion)


def test_a_combined_conditional_answer_is_recorded_whole(examples: Service) -> None:
    a = recorded_assertion(examples, "order-sign-47370-commercial-hepatocellular-carcinoma")
    assert (a["covered"], a["paNeeded"]) == ("conditional", "conditional")
    assert (a["docNeeded"], a["docPurpose"], a["infoNeeded"]) == (
        ["clinical"], ["retain-doc"], ["OTH", "location"])
    assert a["policy"] == {"id": "radiofrequency-ablation-liver-tumors", "version": "2026-01"}
    assert a["otherPolicies"] == [{"id": "site-of-care-hepatic-tumor-procedures",
                                   "version": "2026-01"}]


def test_prior_authorization_and_documentation_are_recorded(examples: Service) -> None:
    a = recorded_assertion(examples, "order-sign-79445-commercial-hepatocellular-carcinoma")
    assert (a["covered"], a["paNeeded"], a["docNeeded"], a["docPurpose"]) == (
        "covered", "auth-needed", ["clinical"], ["withpa"])
    assert "infoNeeded" not in a


def test_a_not_covered_answer_records_no_other_codes(
        make_service: Callable[..., Service]) -> None:
    # The bundled policy's answer, on the bundled payer's service.
    a = recorded_assertion(make_service(), "order-sign-47383-commercial-hepatocellular-carcinoma")
    assert a["covered"] == "not-covered"
    assert not {"paNeeded", "docNeeded", "docPurpose", "infoNeeded", "otherPolicies"} & set(a)
