"""Each Da Vinci CRD release a client may speak (2.0.1, 2.1, 2.2) gets answers valid in that
release, checked against the release's own definition of the coverage-information extension
(its FSH, read by ig_definitions.py: elements, cardinalities, value types, required codes and the
invariants crd-ci-q1..q9 as FHIRPath), on every example request that gets coverage information
and every hook. The checker is first proved on the IG's and Inferno's published examples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cds_service.crd_versions import ROWS, VERSIONS

from .conftest import Call
from .crd import COVERAGE_INFORMATION, coverage_actions, coverage_extensions, resource_problems
from .data import REFERENCE, examples_with_coverage_information, load_json
from .ig_definitions import definition, extension_problems

EXAMPLES = examples_with_coverage_information()
NAMES = [row.name for row in ROWS]
CRD = REFERENCE / "crd"


def published(name: str) -> list[dict[str, Any]]:
    """The coverage-information extensions of a published response or systemAction."""
    data = load_json(CRD / name)
    actions = data.get("systemActions", [data])
    return [ext for action in actions for ext in coverage_extensions(action["resource"])]


# -- the checker, on published examples ----------------------------------------------------------

@pytest.mark.parametrize(("name", "version"), [
    ("ig-2.2.1_response_coverage-info-systemaction.json", "2.2"),
    ("ig-2.2.1_response_minimal-coverage-info.json", "2.2"),
    ("ig-2.1.0_response_coverage-info-systemaction.json", "2.1"),
])
def test_the_igs_own_examples_pass_their_releases_checker(name: str, version: str) -> None:
    found = published(name)
    assert found
    assert [extension_problems(ext, version) for ext in found] == [[]] * len(found)


@pytest.mark.parametrize(("name", "version", "expected"), [
    # 2.2 moved contact to ContactDetail and added detail.category.
    ("ig-2.2.1_response_coverage-info-systemaction.json", "2.1",
     ["contact: has ['valueContactDetail'], CRD 2.1 allows ['valueContactPoint']",
      "detail.category: not defined in CRD 2.1"]),
    ("ig-2.1.0_response_coverage-info-systemaction.json", "2.2",
     ["contact: has ['valueContactPoint'], CRD 2.2 allows ['valueContactDetail']",
      "detail.category: 0 present, CRD 2.2 allows 1..1"]),
    # Inferno's own 2.0.1 fixture: conditional with no pa-needed breaks 2.0.1's crd-ci-q2
    # ("covered != not-covered implies pa-needed"); 2.2's q8 wants a reason for doc-purpose.
    ("inferno_fixture_coverage-info-systemaction_conditional.json", "2.0.1",
     ["crd-ci-q2: extension.where(url = 'covered' and value != 'not-covered') implies "
      "extension.where(url = 'pa-needed').exists()"]),
    ("inferno_fixture_coverage-info-systemaction_conditional.json", "2.2",
     ["crd-ci-q8: extension.where(url = 'doc-purpose' and value != 'conditional').exists() "
      "implies extension.where(url = 'reason').exists()"]),
])
def test_the_checker_tells_the_releases_apart(name: str, version: str,
                                              expected: list[str]) -> None:
    [ext] = published(name)
    assert extension_problems(ext, version) == expected


@pytest.mark.parametrize("version", NAMES)
def test_an_indeterminate_assertion_is_valid_only_from_2_2(version: str) -> None:
    [ext] = copy.deepcopy(published("ig-2.2.1_response_minimal-coverage-info.json"))
    parts = [p for p in ext["extension"] if p["url"] not in ("covered", "pa-needed")]
    ext["extension"] = [*parts, {"url": "covered", "valueCode": "indeterminate"},
                        {"url": "reason", "valueCodeableConcept": {"text": "Technical issue"}}]
    problems = extension_problems(ext, version)
    if version == "2.2":
        assert problems == []
    else:
        assert f"covered: 'indeterminate' is not in CRDCoveredInfo (CRD {version})" in problems


# -- our answers, per release ---------------------------------------------------------------------

def asking(path: Path, version: str) -> dict[str, Any]:
    body: dict[str, Any] = load_json(path)
    body["extension"] = {**body.get("extension", {}),
                         "davinci-crd.requestedVersion": VERSIONS[version].declared}
    return body


@pytest.mark.parametrize("version", NAMES)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_coverage_information_is_valid_in_the_clients_release(
        call: Call, path: Path, version: str) -> None:
    response = call(asking(path, version))
    assert response.status_code == 200, response.text
    body = response.json()
    actions = list(coverage_actions(body))
    assert actions, "the example should get coverage information"
    for where, action in actions:
        assert action["type"] == "update", where
        for ext in coverage_extensions(action["resource"]):
            assert extension_problems(ext, version) == [], where
    for card in body["cards"]:
        assert card["source"]["topic"]["system"] == VERSIONS[version].card_type_system


@pytest.mark.parametrize("version", NAMES)
def test_an_unknown_plan_is_said_in_each_releases_codes(call: Call, version: str) -> None:
    path = next(p for p in EXAMPLES if p.name == "order-sign-47383-unknown-plan.json")
    body = call(asking(path, version)).json()
    [(_, action)] = list(coverage_actions(body))
    [ext] = coverage_extensions(action["resource"])
    parts = {(p["url"], p.get("valueCode")) for p in ext["extension"] if "valueCode" in p}
    if version == "2.2":
        assert ("covered", "indeterminate") in parts and not any(
            url == "info-needed" for url, _ in parts)
    else:
        # conditional + info-needed OTH + the reason: what 2.0.1 and 2.1 can say of it.
        assert {("covered", "conditional"), ("info-needed", "OTH")} <= parts
        assert any(p["url"] == "reason" for p in ext["extension"])
    # 2.0.1 crd-ci-q2: whatever is not not-covered states its prior-authorization rule.
    assert (("pa-needed", "conditional") in parts) == (version == "2.0.1")


def test_a_2_0_1_appointment_carries_its_own_assertion_later_releases_its_request(
        call: Call) -> None:
    path = next(p for p in EXAMPLES if p.name.startswith(
        "appointment-book-47383-medicare-advantage-based-on-service-request"))
    targets = {}
    for version in NAMES:
        body = call(asking(path, version)).json()
        targets[version] = [f"{a['resource']['resourceType']}/{a['resource']['id']}"
                            for _, a in coverage_actions(body)]
        for _, action in coverage_actions(body):
            assert resource_problems(action["resource"]) == []
    assert targets == {"2.0.1": ["Appointment/appt-47383"],
                       "2.1": ["ServiceRequest/sr-47383"], "2.2": ["ServiceRequest/sr-47383"]}


def test_2_2_details_name_the_policy_link_in_tho_with_its_display(call: Call) -> None:
    path = next(p for p in EXAMPLES if p.name == "order-sign-two-cryoablation-orders.json")
    body = call(asking(path, "2.2")).json()
    details = [sub["extension"] for _, a in coverage_actions(body)
               for ext in a["resource"]["extension"] if ext["url"] == COVERAGE_INFORMATION
               for sub in ext["extension"] if sub["url"] == "detail"]
    assert details
    for parts in details:
        assert parts[0] == {"url": "category", "valueCode": "cat-other"}
        assert parts[1]["valueCodeableConcept"]["coding"] == [{
            "system": "http://terminology.hl7.org/CodeSystem/crd-coverage-detail",
            "code": "policy-link", "display": "Policy Link"}]


# -- the service's version table agrees with each release's own definition -----------------------

@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_the_version_table_agrees_with_the_releases_fsh(row: Any) -> None:
    d = definition(row.name)
    assert row.elements == set(d.elements)
    doc = d.elements["doc-needed"]
    assert row.doc_needed_max == (None if doc.max == float("inf") else doc.max)
    assert row.value_types["contact"] == d.elements["contact"].types
    assert row.value_types["detail.value"] == d.detail["value"].types
    assert row.detail_category == ("category" in d.detail)
    assert row.invariants == tuple(k.removeprefix("crd-ci-") for k in d.invariants)
    for element, codes in (("covered", row.covered), ("pa-needed", row.pa_needed),
                           ("doc-needed", row.doc_needed), ("doc-purpose", row.doc_purpose),
                           ("info-needed", row.info_needed)):
        value_set = d.value_sets[d.elements[element].required or ""]
        assert codes == {code for _, code in value_set.codes}, element
    for detail in row.details.values():
        assert detail.value in d.detail["value"].types
