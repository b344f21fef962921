"""The CRD version table's pure parts: naming a release, choosing one for a call, and reading an
older release's context fields; every row is walked, so a new row is checked too."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.crd_versions import (
    DEFAULT,
    ROWS,
    VERSIONS,
    CrdVersion,
    canonical_context,
    choose,
    declared_versions,
    named,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("2.0", "2.0.1"), ("2.0.1", "2.0.1"), ("2.1", "2.1"), ("2.1.0", "2.1"), ("2.2", "2.2"),
    ("2.2.1", "2.2"), (" 2.2 ", "2.2"), ("1.0", None), ("2.3", None), ("2", None),
    ("latest", None), ("2.x", None), (2.2, None), (None, None), ("", None),
])
def test_a_version_is_named_by_major_minor_or_a_full_release(value: Any,
                                                            expected: str | None) -> None:
    row = named(value)
    assert (row.name if row else None) == expected


def test_the_request_wins_then_the_client_then_the_default() -> None:
    assert choose("2.1", "2.2") is VERSIONS["2.1"]
    assert choose(None, "2.2") is VERSIONS["2.2"]
    assert choose("9.9", "2.2") is VERSIONS["2.2"]  # a version we do not answer is not chosen
    assert choose(None, None) is DEFAULT is VERSIONS["2.0.1"]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_every_row_is_declared_and_says_every_newest_code(row: CrdVersion) -> None:
    assert row.declared in declared_versions()
    assert named(row.declared) is row
    newest = ROWS[-1]
    for codes, own in ((newest.covered, row.covered), (newest.pa_needed, row.pa_needed),
                       (newest.doc_needed, row.doc_needed),
                       (newest.info_needed, row.info_needed)):
        for code in codes:
            said = row.say(code)
            assert said is None or said in own, (row.name, code, said)


def test_declared_versions_are_unique_and_in_release_order() -> None:
    assert declared_versions() == ["2.0", "2.1", "2.2"]


def test_a_2_0_1_order_dispatch_context_is_read_as_dispatched_orders() -> None:
    old = {"patientId": "p", "order": "ServiceRequest/1", "performer": "Practitioner/2"}
    assert canonical_context("order-dispatch", old) == {
        "patientId": "p", "dispatchedOrders": ["ServiceRequest/1"],
        "performer": "Practitioner/2"}
    both = {"order": "ServiceRequest/1", "dispatchedOrders": ["ServiceRequest/3"]}
    assert canonical_context("order-dispatch", both) is both  # the newer name wins
    sign = {"patientId": "p", "order": "x"}
    assert canonical_context("order-sign", sign) is sign  # no alias for other hooks
