"""The code-system table: every spelling of a system is the same system, and policies may name
only systems the table knows."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cds_service.cli import main
from cds_service.fhir.code_systems import CodeSystem, _index, code_systems, parse
from cds_service.fhir.coding import CodeRef, canonical_code, canonical_system
from cds_service.policy.loader import BUNDLED_DIR

ROWS = code_systems().rows
SPELLINGS = [(row, spelling) for row in ROWS for spelling in (row.uri, *row.aliases)]


@pytest.mark.parametrize(("row", "spelling"), SPELLINGS,
                         ids=[s for _, s in SPELLINGS])
def test_every_spelling_of_a_system_matches_a_code_listed_in_any_other(
        row: CodeSystem, spelling: str) -> None:
    assert canonical_system(spelling) == row.uri
    for listed in (row.uri, *row.aliases):
        assert CodeRef(system=listed, code="A1").matches(spelling, "A1")
    assert not CodeRef(system=row.uri, code="A1").matches(spelling, "A2")


def test_the_oids_named_by_the_issue_are_aliases_of_their_systems() -> None:
    expected = {
        "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
        "urn:oid:2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
        "urn:oid:2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
        "urn:oid:2.16.840.1.113883.6.285": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "https://bluebutton.cms.gov/resources/codesystem/hcpcs":
            "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    }
    for alias, uri in expected.items():
        assert canonical_system(alias) == uri


def test_icd10cm_codes_match_with_or_without_the_dot_in_any_case() -> None:
    ref = CodeRef(system="urn:oid:2.16.840.1.113883.6.90", code="C22.0")
    assert ref.matches("http://hl7.org/fhir/sid/icd-10-cm", "c220")
    assert canonical_code("http://hl7.org/fhir/sid/icd-10-cm", " C78.7 ") == "C787"


def test_snomed_codes_are_compared_exactly_never_by_prefix() -> None:
    assert not CodeRef(system="http://snomed.info/sct", code="9438").matches(
        "http://snomed.info/sct", "94381002")
    with pytest.raises(ValidationError, match="descendants"):
        CodeRef(system="http://snomed.info/sct", code="94381002", descendants=True)


def test_a_code_in_an_unknown_system_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown code system"):
        CodeRef(system="http://snomed.org/sct", code="94381002")


def test_a_spelling_listed_twice_is_refused() -> None:
    rows = [{"id": "a", "label": "A", "uri": "http://a"},
            {"id": "b", "label": "B", "uri": "http://b", "aliases": ["http://a"]}]
    with pytest.raises(ValueError, match="listed twice"):
        _index(parse(rows))


@pytest.mark.parametrize("where", ["codes", "indication"])
def test_policy_check_rejects_a_policy_naming_an_unknown_code_system(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    data = yaml.safe_load((BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.yaml").read_text())
    data["source"].pop("document")
    if where == "codes":
        data["codes"][0]["system"] = "http://www.ama-assn.org/go/cpt4"
        field = "codes.0.system"
    else:
        data["indications"][0]["diagnoses"][0]["any_of"].append(
            {"system": "http://snomed.info/sct/900000000000207008", "code": "109841003"})
        field = "indications.0.diagnoses.0.any_of.2.system"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["policy", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert field in err and "unknown code system" in err


def test_policy_check_accepts_codes_written_in_oid_form(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.yaml").read_text())
    data["source"].pop("document")
    data["indications"][0]["diagnoses"][0]["any_of"] = [
        {"system": "urn:oid:2.16.840.1.113883.6.96", "code": "109841003"}]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["policy", "check", str(path)]) == 0, capsys.readouterr().err
