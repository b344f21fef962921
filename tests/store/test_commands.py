"""``cds-service db`` and ``cds-service records``: what payer staff and operators run."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cds_service.cli import main
from cds_service.store.clock import utcnow
from cds_service.store.db import Database
from cds_service.store.decisions import save_decision
from cds_service.store.feedback import feedback_records, save_feedback
from cds_service.store.records import DecisionRecord
from tests.store.helpers import EHR, record_for
from tests.store.test_feedback_store import RECEIVED, items, overridden


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CDS_RETENTION_DAYS", "CDS_RECORD_DECISIONS", "CDS_POLICY_DIR"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", url)


def stored(db: Database, name: str, **changes: Any) -> DecisionRecord:
    record = dataclasses.replace(record_for(name), **changes)
    with db.write() as conn:
        save_decision(conn, record)
    return record


def test_db_upgrade_then_check(database_url: str, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, database_url)
    code, _, err = run(capsys, "db", "check")
    assert code == 1 and "cds-service db upgrade" in err
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 0 and "upgraded from empty to revision" in err
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 0 and "already at revision" in err
    assert run(capsys, "db", "check")[0] == 0


def test_db_messages_never_show_the_password(postgres_url: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, postgres_url)
    password = Database(postgres_url).url.password
    code, out, err = run(capsys, "db", "upgrade")
    assert code == 0
    assert not password or str(password) not in out + err


def test_records_decision_prints_the_whole_record(db: Database, migrated_url: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, migrated_url)
    record = stored(db, "order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    assertion = record.assertions[0].assertion_id
    code, out, _ = run(capsys, "records", "decision", assertion)
    assert code == 0
    shown = json.loads(out)
    assert shown["hookInstance"] == record.hook_instance
    assert shown["coverageAssertions"][0]["coverageAssertionId"] == assertion
    assert shown["orders"][0]["lineOfBusiness"] == "medicare-advantage"
    assert shown["cards"][0]["uuid"] == record.cards[0].uuid


def test_records_decision_of_an_unknown_id_exits_1(migrated_url: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, migrated_url)
    code, out, err = run(capsys, "records", "decision", "never-issued")
    assert (code, out) == (1, "")
    assert "never-issued" in err


def test_records_feedback_prints_json_lines_since_a_date(db: Database, migrated_url: str,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str],
                                                        ) -> None:
    use(monkeypatch, migrated_url)
    with db.write() as conn:
        save_feedback(conn, feedback_records("crd-order-sign", EHR, items(overridden("old"))),
                      RECEIVED - timedelta(days=3))
        save_feedback(conn, feedback_records("crd-order-sign", EHR, items(
            overridden("new", comment="Discussed with the member"))), RECEIVED)
    code, out, _ = run(capsys, "records", "feedback")
    assert code == 0
    assert [json.loads(line)["card"] for line in out.splitlines()] == ["old", "new"]
    code, out, _ = run(capsys, "records", "feedback", "--since", "2026-11-25")
    [line] = out.splitlines()
    assert json.loads(line)["overrideReason"]["userComment"] == "Discussed with the member"


def test_records_feedback_refuses_a_bad_date(migrated_url: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, migrated_url)
    with pytest.raises(SystemExit) as exited:
        main(["records", "feedback", "--since", "last week"])
    assert exited.value.code == 2
    assert "ISO 8601" in capsys.readouterr().err


def test_records_stats(db: Database, migrated_url: str, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, migrated_url)
    record = stored(db, "order-sign-47371-commercial-hepatocellular-carcinoma")
    with db.write() as conn:
        save_feedback(conn, feedback_records("crd-order-sign", EHR, items(
            overridden(record.cards[0].uuid, "not-applicable"))), RECEIVED)
    code, out, _ = run(capsys, "records", "stats")
    assert code == 0
    [policy] = json.loads(out)["policies"]
    assert policy["cards"]["overridden"] == 1


def test_records_purge_uses_the_retention_setting(db: Database, migrated_url: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, migrated_url)
    monkeypatch.setenv("CDS_RETENTION_DAYS", "30")
    now = utcnow()
    old = stored(db, "order-sign-47371-commercial-hepatocellular-carcinoma",
                 recorded_at=now - timedelta(days=31))
    young = stored(db, "order-sign-47371-commercial-hepatocellular-carcinoma",
                   recorded_at=now - timedelta(hours=1))
    code, out, _ = run(capsys, "records", "purge")
    assert code == 0 and json.loads(out)["decisions"] == 1
    assert run(capsys, "records", "decision", old.assertions[0].assertion_id)[0] == 1
    assert run(capsys, "records", "decision", young.assertions[0].assertion_id)[0] == 0
    code, out, _ = run(capsys, "records", "purge", "--days", "1")
    assert json.loads(out)["decisions"] == 0


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, f"sqlite:///{tmp_path / 'nothing-here.db'}")
    code, _, err = run(capsys, "records", "stats")
    assert code == 2 and "no such SQLite file" in err
    assert not (tmp_path / "nothing-here.db").exists()


def test_reading_a_database_behind_the_code_asks_for_the_upgrade(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, postgres_url)
    code, _, err = run(capsys, "records", "decision", "x")
    assert code == 2 and "cds-service db upgrade" in err
