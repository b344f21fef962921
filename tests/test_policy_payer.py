"""One service answers for one payer, the payer file's (issue 17, item 6): a policy whose `payer`
is another is refused at load, as start-up, `policy check` and a reload meet it; the bundled
policies (Blue Cross & Blue Shield of Rhode Island's) are left unused beside another payer's payer
file, and the example policies answer with their own fictional payer's file."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.cli import main
from cds_service.knowledge import payer_mismatch
from tests.ops.processes import CLI, development, free_port
from tests.support import EXAMPLE_PAYER, EXAMPLE_POLICIES, call, example

BCBSRI = "Blue Cross & Blue Shield of Rhode Island"
EXAMPLE_PAYER_NAME = "Example Health Plan (fictional)"
FIRST_EXAMPLE = EXAMPLE_POLICIES / "histotripsy-liver-tumors.yaml"
MISMATCH = (f"configuration error in {FIRST_EXAMPLE}: payer: {EXAMPLE_PAYER_NAME!r} is not the "
            f"payer file's payer ({BCBSRI!r}, CDS_PAYER_FILE)")


# -- the pure check ----------------------------------------------------------------------------

def test_the_same_payer_name_passes_whatever_its_line_breaks() -> None:
    assert payer_mismatch(BCBSRI, BCBSRI) is None
    assert payer_mismatch("Blue Cross & Blue Shield\n  of Rhode Island ", BCBSRI) is None


@pytest.mark.parametrize("other", [EXAMPLE_PAYER_NAME, "Blue Cross & Blue Shield of Rhode island",
                                   "BCBSRI", "Blue Cross & Blue Shield"])
def test_another_payer_name_is_a_problem_naming_both(other: str) -> None:
    problem = payer_mismatch(other, BCBSRI)
    assert problem is not None
    assert problem.startswith(f"payer: {other!r} is not the payer file's payer ({BCBSRI!r}, "
                              "CDS_PAYER_FILE)")


# -- as an operator and an author meet it ------------------------------------------------------

def test_serve_refuses_policies_of_another_payer_in_one_line(tmp_path: Path) -> None:
    env = development(tmp_path, CDS_POLICY_DIR=str(EXAMPLE_POLICIES))  # the bundled payer file
    result = subprocess.run([CLI, "serve", "--port", str(free_port())], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # serve's own JSON log lines (what it did before the refusal) are not part of the message
    [line] = [x for x in result.stderr.splitlines() if not x.startswith("{")]
    assert line.startswith(MISMATCH), line


def test_policy_check_reports_a_policy_of_another_payer(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CDS_PAYER_FILE", raising=False)
    assert main(["policy", "check", str(EXAMPLE_POLICIES)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(MISMATCH), captured.err
    assert captured.out == ""


# -- through the HTTP API ----------------------------------------------------------------------

def test_with_another_payers_file_the_bundled_policy_is_not_used(
        make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "cds_service.payer"):
        client = make_client(payer_file=EXAMPLE_PAYER)
    assert [r.getMessage() for r in caplog.records if "not used" in r.getMessage()] == [
        f"bundled policies of another payer than the payer file's ({EXAMPLE_PAYER_NAME}) not "
        "used: cryosurgical-ablation-liver-tumors"]
    answer = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")).json()
    assert answer["cards"] == []  # no BCBSRI wording for another payer's members
    [action] = answer["systemActions"]
    codes = {e["url"]: e.get("valueCode") for e in action["resource"]["extension"][-1]["extension"]}
    assert codes["covered"] == "indeterminate"
    assert client.get("/policies/cryosurgical-ablation-liver-tumors").status_code == 404


def test_the_example_policies_answer_with_their_own_payer_file(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(policy_dir=EXAMPLE_POLICIES, payer_file=EXAMPLE_PAYER)
    answer = call(client, example("order-sign-0686T-commercial-hepatocellular-carcinoma")).json()
    [card] = answer["cards"]
    assert card["source"]["label"] == EXAMPLE_PAYER_NAME
    # The example payer's own override reasons: never the bundled payer's written-waiver reason.
    assert [r["code"] for r in card["overrideReasons"]] == ["coverage-review-requested"]
