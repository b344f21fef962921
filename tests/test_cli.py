"""The cds-service command for policy authors and sandbox testing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cds_service.cli import main
from cds_service.policy.loader import BUNDLED_DIR
from tests.support import EXAMPLES, ROOT


def test_evaluate_prints_the_answer_a_hook_call_would_get(
        capsys: pytest.CaptureFixture[str]) -> None:
    request = EXAMPLES / "requests" / "order-sign-47381-commercial-hepatocellular-carcinoma.json"
    assert main(["evaluate", str(request)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["cards"][0]["summary"].startswith("Not medically necessary for this Commercial")
    assert len(answer["systemActions"]) == 1


def test_evaluate_prints_an_operation_outcome_for_a_bad_request(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hook": "order-sign", "context": {}}))
    assert main(["evaluate", str(bad)]) == 1
    assert json.loads(capsys.readouterr().out)["resourceType"] == "OperationOutcome"


def test_evaluate_reports_unreadable_files(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "x.json").write_text("{nope")
    assert main(["evaluate", str(tmp_path / "x.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_policy_check_accepts_the_bundled_and_test_policies(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check"]) == 0
    assert main(["policy", "check", str(ROOT / "tests" / "data" / "policies")]) == 0
    out = capsys.readouterr().out
    assert "cryosurgical-ablation-liver-tumors version 2021-12" in out
    assert "test-only-thermoplasty" in out


def test_policy_check_names_file_and_field_of_a_bad_policy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.yaml").read_text())
    data["determinations"]["commercial"]["covered"] = "perhaps"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["policy", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "determinations.commercial.covered" in err
