"""The cds-service command for policy authors and sandbox testing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cds_service.cli import build_parser, main
from cds_service.policy.loader import BUNDLED_DIR
from tests.support import EXAMPLES, ROOT, write_versioned_policy


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


def test_policy_check_of_a_directory_reports_every_broken_file_not_only_the_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.yaml").read_text())
    for name, field in (("a.yaml", "card_topic"), ("b.yaml", "procedure")):
        broken = {**data, "id": name[0] + "-policy"}
        del broken[field]
        (tmp_path / name).write_text(yaml.safe_dump(broken))
    assert main(["policy", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'a.yaml'}:" in err and "card_topic" in err
    assert f"{tmp_path / 'b.yaml'}:" in err and "procedure" in err
    assert "2 policy file(s) refused" in err


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command (a parser without sub-commands), with its words."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
    for action in actions:
        for name, child in action.choices.items():
            yield from commands(child, (*path, name))


def test_every_commands_help_says_what_it_does_and_shows_its_defaults(
        capsys: pytest.CaptureFixture[str]) -> None:
    found = list(commands(build_parser()))
    assert len(found) >= 11
    for path, parser in found:
        with pytest.raises(SystemExit) as helped:
            main([*path, "--help"])
        assert helped.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert parser.description and " ".join(parser.description.split()) in text, path
        for action in parser._actions:
            takes_value = action.option_strings and action.nargs != 0
            if takes_value:
                assert action.help and "default" in action.help, (path, action.dest)


@pytest.mark.parametrize(("argv", "expected"), [
    (["serve", "--workers", "0"], "at least 1"),
    (["serve", "--workers", "-2"], "at least 1"),
    (["serve", "--port", "0"], "a TCP port from 1 to 65535"),
    (["serve", "--port", "70000"], "a TCP port from 1 to 65535"),
    (["records", "purge", "--days", "0"], "1 to 36500"),
])
def test_nonsensical_values_are_refused(argv: list[str], expected: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    assert expected in capsys.readouterr().err


def test_policy_check_lists_each_version_with_its_date(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(write_versioned_policy(tmp_path / "policies"))]) == 0
    out = capsys.readouterr().out
    assert "cryosurgical-ablation-liver-tumors version 2020-01, in force from 2020-01-01" in out
    assert "cryosurgical-ablation-liver-tumors version 2021-12, in force from 2021-12-01" in out
