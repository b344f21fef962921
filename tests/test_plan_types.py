"""Which answer a member gets by their Coverage.type (Source of Payment Typology), through the hook
endpoint: every SOPT code the bundled payer file maps gets its line's determination, and the plan
types that are not that line (Medicare supplement, dental, vision, pharmacy benefit only) get the
unknown-plan answer: indeterminate with the payer file's reason, never a Commercial card."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.payer.models import load_payer
from cds_service.policy.loader import load_policies
from cds_service.respond.wording import file_phrase
from tests.support import call, example

SOPT = "https://nahdo.org/sopt"
COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
PAYER = load_payer()
POLICY = load_policies(None).get("cryosurgical-ablation-liver-tumors")
MAPPED = [(ref.code, line.id) for line in PAYER.lines_of_business for ref in line.coverage_type
          if ref.system == SOPT]
NAMES = {line.id: line.name for line in PAYER.lines_of_business}
NOT_MAPPED = [
    ("523", "Medicare supplemental policy (as second payer)"),
    ("623", "BC Medicare Supplemental Plan"),
    ("3114", "TRICARE For Life--Medicare Supplement"),
    ("516", "Commercial Managed Care - Pharmacy Benefit Manager"),
    ("517", "Commercial Managed Care - Dental"),
    ("524", "Indemnity Insurance - Dental"),
    ("56", "Specialized Stand-Alone Plan"),
    ("561", "Dental"),
    ("562", "Vision"),
    ("614", "BC Managed Care - Dental"),
    ("629", "BC Indemnity - Dental"),
    ("12", "Medicare (Non-managed Care)"),
    ("2", "MEDICAID"),
]


def hook_call(sopt: str) -> dict[str, Any]:
    body = example("order-sign-47383-commercial-colorectal-liver-metastases")
    for entry in body["prefetch"]["coverage"]["entry"]:
        entry["resource"]["type"] = {"coding": [{"system": SOPT, "code": sopt}]}
    return body


def coverage_information(answer: dict[str, Any]) -> dict[str, Any]:
    [action] = answer["systemActions"]
    [ext] = [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION]
    return {part["url"]: part for part in ext["extension"]}


def test_the_payer_file_maps_medicare_advantage_and_commercial_codes() -> None:
    assert {line for _, line in MAPPED} == {"medicare-advantage", "commercial"}
    assert not {code for code, _ in MAPPED} & {code for code, _ in NOT_MAPPED}


@pytest.mark.parametrize(("code", "line"), MAPPED, ids=[c for c, _ in MAPPED])
def test_every_mapped_sopt_code_gets_its_lines_determination(
        client: TestClient, code: str, line: str) -> None:
    assert POLICY is not None
    response = call(client, hook_call(code))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning"
    assert file_phrase(POLICY.policy.determinations[line]) in card["summary"].lower()
    assert f"this {NAMES[line]} member" in card["summary"]
    info = coverage_information(response.json())
    assert info["covered"]["valueCode"] == "not-covered"


@pytest.mark.parametrize(("code", "name"), NOT_MAPPED, ids=[c for c, _ in NOT_MAPPED])
def test_plan_types_that_are_not_a_mapped_line_get_the_unknown_plan_answer(
        client: TestClient, code: str, name: str) -> None:
    assert POLICY is not None
    response = call(client, hook_call(code))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    # The unknown-plan card states what the policy says for each line, for no line in particular.
    assert not any(f"this {name} member" in card["summary"] for name in NAMES.values())
    info = coverage_information(response.json())
    assert info["covered"]["valueCode"] == "indeterminate"
    assert info["reason"]["valueCodeableConcept"]["text"] == PAYER.unknown_plan_reason
