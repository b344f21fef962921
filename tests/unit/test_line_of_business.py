"""Line of business from a Coverage, by the payer file's mapping (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.payer.coverage import is_active, line_of_business
from cds_service.payer.models import ClassRule, LineOfBusiness, PayerConfig, load_payer

PAYER = load_payer()
SOPT = "https://nahdo.org/sopt"
SOPT_OID = "urn:oid:2.16.840.1.113883.3.221.5"


def coverage(*codings: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Coverage", "status": "active",
            "type": {"coding": [{"system": s, "code": c} for s, c in codings]}, **extra}


@pytest.mark.parametrize(("code", "line"), [
    ("11", "medicare-advantage"), ("111", "medicare-advantage"), ("112", "medicare-advantage"),
    ("119", "medicare-advantage"),
    ("5", "commercial"), ("51", "commercial"), ("511", "commercial"), ("59", "commercial"),
    ("6", "commercial"), ("61", "commercial"), ("612", "commercial"),
    ("1", None), ("12", None), ("121", None), ("2", None), ("3", None), ("81", None),
    # Medicare supplement, dental, vision: not Commercial, though under 5 and 6.
    ("523", None), ("623", None), ("517", None), ("561", None), ("562", None), ("614", None),
    ("5111", None),  # no such code in SOPT 9.2: commercial codes are listed without descendants
])
def test_sopt_codes_map_by_the_payer_files_list(code: str, line: str | None) -> None:
    result = line_of_business(PAYER, coverage((SOPT, code)))
    assert (result.line.id if result.line else None) == line


def test_sopt_oid_system_is_the_same_code_system() -> None:
    assert line_of_business(PAYER, coverage((SOPT_OID, "112"))).line is not None


def test_basis_says_how_the_line_was_found_without_patient_data() -> None:
    result = line_of_business(PAYER, coverage((SOPT, "612"), subscriberId="SECRET-ID"))
    assert result.basis == "Coverage.type SOPT 612"
    assert "SECRET" not in line_of_business(
        PAYER, coverage(("http://terminology.hl7.org/CodeSystem/v3-ActCode", "PPO"),
                        subscriberId="SECRET")).basis


def test_unmapped_or_missing_type_is_unknown() -> None:
    assert line_of_business(PAYER, coverage()).line is None
    assert line_of_business(PAYER, {"resourceType": "Coverage", "type": "odd"}).line is None
    result = line_of_business(PAYER, coverage(("http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                               "PPO")))
    assert result.line is None and "v3-ActCode" in result.basis


def test_plan_class_values_can_be_mapped() -> None:
    payer = PayerConfig.model_validate({
        "schema": 1, "name": "P", "unknown_plan_reason": "Unknown plan.",
        "undecided_plan_reason": "Not decided for this plan.",
        "unreadable_order_reason": "Order unreadable.",
        "unmatched_orders": {"covered": "indeterminate", "reason": "No policy."},
        "lines_of_business": [
            LineOfBusiness(id="medicare-advantage", name="Medicare Advantage",
                           coverage_class=[ClassRule(type="plan", value="MA-GOLD")]).model_dump()]})
    cov = {"resourceType": "Coverage", "class": [
        {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                              "code": "plan"}]}, "value": "MA-GOLD"}]}
    result = line_of_business(payer, cov)
    assert result.line is not None and result.basis == "Coverage.class plan MA-GOLD"
    cov["class"][0]["value"] = "OTHER"
    assert line_of_business(payer, cov).line is None


def test_first_matching_line_in_file_order_wins() -> None:
    result = line_of_business(PAYER, coverage((SOPT, "612"), (SOPT, "111")))
    assert result.line is not None and result.line.id == "medicare-advantage"


@pytest.mark.parametrize(("status", "active"), [("active", True), (None, True),
                                                ("cancelled", False), ("draft", False),
                                                ("entered-in-error", False)])
def test_only_active_coverage_counts(status: str | None, active: bool) -> None:
    cov = coverage((SOPT, "111"))
    if status is None:
        del cov["status"]
    else:
        cov["status"] = status
    assert is_active(cov) is active
