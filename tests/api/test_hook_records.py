"""Every hook call answered 200 has its decision record, committed before the answer; and the
records summary for payer staff (GET /records/stats)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from cds_service.auth.operators import OperatorTokens
from cds_service.auth.replay import MemoryReplayStore
from cds_service.config import Settings
from cds_service.main import create_app
from cds_service.store.replay import DatabaseReplayStore
from cds_service.store.tables import decision
from tests.api.conftest import Service
from tests.store.helpers import EHR, assertion_ids
from tests.support import EXAMPLES, assert_outcome, call, example, recorded_decision


def test_every_answered_call_has_a_record_found_by_its_assertion_ids(service: Service) -> None:
    answered = calls = 0
    issued: list[str] = []
    for path in sorted((EXAMPLES / "requests").glob("*.json")):
        response = call(service.http, example(path.name))
        calls += 1  # refused calls (the examples without Coverage get 400) are recorded too
        if response.status_code == 200:
            answered += 1
            issued += assertion_ids(response.json())
    assert answered > 20 and issued
    records = service.runtime.records
    assert records is not None
    with records.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(decision)).scalar_one() == calls
    for assertion_id in issued:
        assert recorded_decision(records.db, assertion_id)["client"]["iss"] == EHR.iss


def test_a_call_whose_record_cannot_be_stored_is_answered_503_and_the_service_not_ready(
        service: Service, caplog: pytest.LogCaptureFixture) -> None:
    records = service.runtime.records
    assert records is not None
    with records.db.write() as conn:
        conn.execute(text("DROP TABLE coverage_assertion"))
    as_ehr = TestClient(service.http.app, raise_server_exceptions=False)
    response = call(as_ehr, example("order-sign-47371-commercial-hepatocellular-carcinoma"))
    assert_outcome(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    assert service.http.get("/readyz").status_code == 503  # its heartbeat writes every table
    assert "decision not written" in caplog.text  # the failure is logged...
    assert "Coverage/cov-commercial" not in caplog.text  # ...without the record contents
    with records.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(decision)).scalar_one() == 0


def test_records_share_the_database_with_the_replay_store(service: Service) -> None:
    assert isinstance(service.runtime.replay, DatabaseReplayStore)
    assert service.http.get("/readyz").json()["checks"]["database"] is True


def test_without_records_nothing_is_written_and_replay_stays_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(environment="development", auth_enabled=False, record_decisions=False)
    with TestClient(create_app(settings)) as http:
        assert call(http, example("order-sign-47371-commercial-hepatocellular-carcinoma")
                    ).status_code == 200
        assert isinstance(http.app.state.runtime.replay, MemoryReplayStore)  # type: ignore[attr-defined]
        assert "database" not in http.get("/readyz").json()["checks"]
    assert not (tmp_path / "var").exists()


def test_the_default_sqlite_file_is_created_on_first_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The quick start: no database setting, no migration step.
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(Settings(environment="development", auth_enabled=False))) as http:
        assert call(http, example("order-sign-47371-commercial-hepatocellular-carcinoma")
                    ).status_code == 200
    assert (tmp_path / "var" / "cds-service.db").is_file()


def test_stats_summarise_the_reactions_to_our_cards(service: Service) -> None:
    answer = call(service.http, example("order-sign-47383-medicare-advantage-hepatocellular-"
                                        "carcinoma")).json()
    card = answer["cards"][0]
    reason = card["overrideReasons"][0]
    service.http.post("/cds-services/crd-order-sign/feedback", json={"feedback": [{
        "card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:00:00Z",
        "overrideReason": {"reason": {"system": reason["system"], "code": reason["code"]}}}]})
    response = service.http.get("/records/stats", headers={"Authorization": "Bearer t"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    [policy] = response.json()["policies"]
    assert policy["cards"] == {"shown": 1, "accepted": 0, "overridden": 1, "noFeedback": 0}
    # The sandbox sent no display; the summary shows the policy's own wording for the code.
    assert policy["overrideReasons"] == [{**reason, "cards": 1}]
    # Operators' endpoint: the EHRs' authenticator is not asked (tests/api/test_records_access).
    assert all(aud != ["https://cds.payer.example/records/stats"]
               for _, aud in service.auth.calls)


def test_stats_since_must_be_a_date(service: Service) -> None:
    assert service.http.get("/records/stats?since=2026-11-01").status_code == 200
    assert service.http.get("/records/stats?since=2026-11-01T00:00:00Z").status_code == 200
    assert_outcome(service.http.get("/records/stats?since=last-week"), 400, mentions="since")


def test_stats_need_an_operator_token(service: Service) -> None:
    service.runtime.operators = OperatorTokens([])
    assert_outcome(service.http.get("/records/stats"), 401)


def test_stats_without_records_are_404(make_service: Callable[..., Service]) -> None:
    assert_outcome(make_service(record_decisions=False).http.get("/records/stats"), 404)
