"""Policy files and the payer file reloaded while serving: a changed file is used for the next call,
and an edit that does not load leaves the set in use untouched, with one log line naming the file
and fields (none of the file's contents)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from cds_service.errors import ConfigurationError
from cds_service.payer.models import BUNDLED_PAYER_FILE
from cds_service.reload import refusal
from cds_service.runtime import Runtime
from tests.support import call, example, write_bundled_policy

COMMERCIAL = "order-sign-47383-commercial-hepatocellular-carcinoma"
BEFORE = "Not medically necessary for this Commercial member"
AFTER = "Not covered for this Commercial member"


def summary(client: TestClient) -> str:
    response = call(client, example(COMMERCIAL))
    assert response.status_code == 200, response.text
    return str(response.json()["cards"][0]["summary"])


def reload(client: TestClient) -> bool:
    """What SIGHUP does, on the app's own event loop."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return bool(client.portal.call(runtime.reloader.reload))  # type: ignore[union-attr]


def reload_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cds_service.reload"]


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    write_bundled_policy(directory)
    return directory


@pytest.fixture
def client(make_client: Callable[..., TestClient], policies: Path) -> TestClient:
    return make_client(policy_dir=policies, reload_on_change=False)


def test_a_changed_policy_file_answers_the_next_call(
        make_client: Callable[..., TestClient], policies: Path) -> None:
    client = make_client(policy_dir=policies)  # watching the files
    assert summary(client).startswith(BEFORE)
    write_bundled_policy(policies, retold=True)
    deadline = time.monotonic() + 30
    while not summary(client).startswith(AFTER):
        assert time.monotonic() < deadline, "the changed file was not reloaded"
        time.sleep(0.2)
    page = client.get("/policies/cryosurgical-ablation-liver-tumors")
    assert "version 2026-12" in page.text


def test_sighup_reload_uses_the_edited_files(client: TestClient, policies: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    assert summary(client).startswith(BEFORE)
    preview = client.get("/policies/cryosurgical-ablation-liver-tumors/preview").text
    write_bundled_policy(policies, retold=True)
    assert summary(client).startswith(BEFORE)  # nothing changes until the reload
    with caplog.at_level(logging.INFO, "cds_service.reload"):
        assert reload(client)
    assert summary(client).startswith(AFTER)
    assert client.get("/policies/cryosurgical-ablation-liver-tumors/preview").text != preview
    assert [r.getMessage() for r in reload_lines(caplog)] == ["policy files reloaded: 1 policies"]


BROKEN_EDITS: dict[str, Callable[[Path], tuple[Path, str]]] = {}


def broken(name: str) -> Callable[[Callable[[Path], tuple[Path, str]]],
                                  Callable[[Path], tuple[Path, str]]]:
    def register(edit: Callable[[Path], tuple[Path, str]]) -> Callable[[Path], tuple[Path, str]]:
        BROKEN_EDITS[name] = edit
        return edit
    return register


@broken("not YAML")
def _not_yaml(policies: Path) -> tuple[Path, str]:
    path = policies / "cryosurgical-ablation-liver-tumors.yaml"
    path.write_text(path.read_text() + "\nsecret-words: [unclosed\n")
    return path, "line "


@broken("a field out of its schema")
def _bad_field(policies: Path) -> tuple[Path, str]:
    return write_bundled_policy(policies, retold=True, card_topic="secret-words"), "card_topic"


@broken("a quote not in the document")
def _bad_quote(policies: Path) -> tuple[Path, str]:
    return write_bundled_policy(policies, retold=True,
                                overview={"quote": "secret-words never written"}), "overview.quote"


@broken("a policy of another payer than the payer file's")
def _other_payer(policies: Path) -> tuple[Path, str]:
    return write_bundled_policy(policies, retold=True, payer="secret-words Health Plan"), "payer"


@broken("a good file beside a bad one")
def _half(policies: Path) -> tuple[Path, str]:
    write_bundled_policy(policies, retold=True)  # valid on its own
    other = write_bundled_policy(policies / "other", id="another-policy",
                                 phrase_of_nothing="secret-words")
    moved = policies / "another-policy.yaml"
    other.rename(moved)
    return moved, "phrase_of_nothing"


@pytest.mark.parametrize("edit", BROKEN_EDITS, ids=list(BROKEN_EDITS))
def test_an_edit_that_does_not_load_keeps_the_set_in_use(
        client: TestClient, policies: Path, caplog: pytest.LogCaptureFixture,
        edit: str) -> None:
    assert summary(client).startswith(BEFORE)
    path, field = BROKEN_EDITS[edit](policies)
    refused = REGISTRY.get_sample_value("cds_policy_reloads_total", {"outcome": "refused"})
    with caplog.at_level(logging.INFO, "cds_service.reload"):
        assert not reload(client)
    assert REGISTRY.get_sample_value(
        "cds_policy_reloads_total", {"outcome": "refused"}) == (refused or 0) + 1
    # Never half-loaded: not even the good file of the set is used.
    assert summary(client).startswith(BEFORE)
    [line] = reload_lines(caplog)
    assert line.levelno == logging.ERROR
    message = line.getMessage()
    assert str(path) in message and field in message, message
    assert "secret-words" not in message


def test_a_broken_payer_file_keeps_the_set_in_use(
        make_client: Callable[..., TestClient], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    payer = tmp_path / "payer.yaml"
    payer.write_text(BUNDLED_PAYER_FILE.read_text())
    client = make_client(payer_file=payer, reload_on_change=False)
    data: dict[str, Any] = yaml.safe_load(payer.read_text())
    data["lines_of_business"] = []
    payer.write_text(yaml.safe_dump(data))
    with caplog.at_level(logging.INFO, "cds_service.reload"):
        assert not reload(client)
    assert summary(client).startswith(BEFORE)
    [line] = reload_lines(caplog)
    assert f"{payer}: lines_of_business" in line.getMessage()


def test_a_refusal_names_fields_never_what_they_hold() -> None:
    exc = ConfigurationError("/p/x.yaml", [
        "determinations.commercial: phrase 'secret' does not occur in statement",
        "determinations.commercial: again 'secret'", "codes: 'secret'"])
    assert refusal(exc) == ("policy files not reloaded, the set in use stays: /p/x.yaml: "
                            "determinations.commercial, codes")


def test_a_reload_keeps_the_evaluators_settings(
        make_client: Callable[..., TestClient], policies: Path) -> None:
    client = make_client(policy_dir=policies, reload_on_change=False, accept_any_payer=True)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    before = runtime.evaluator
    assert reload(client)
    assert runtime.evaluator is not before
    assert runtime.evaluator.accept_any_payer
    assert runtime.evaluator.base_url == before.base_url
