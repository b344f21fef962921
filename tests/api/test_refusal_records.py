"""Refused hook calls are recorded too (Da Vinci CRD §found-37: every invocation and its
response), with the status and the issues, never what the caller wrote in them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.main import create_app
from cds_service.store.db import Database
from cds_service.store.tables import decision
from tests.support import call, example, settings_for


def decisions(url: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return [dict(r) for r in conn.execute(select(decision).order_by(decision.c.id))
                    .mappings()]
    finally:
        db.dispose()


def test_a_refused_call_has_a_record_with_its_status_and_issues(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, record_decisions=True)
    body = example("order-select-47383-medicare-advantage-hepatocellular-carcinoma")
    body["context"]["selections"] = ["ServiceRequest/Maren-Brightwater-1954-06-21"]
    with TestClient(create_app(settings)) as client:
        assert call(client, body).status_code == 400
        assert client.post("/cds-services/crd-order-sign", content=b"{nope",
                           headers={"Content-Type": "application/json"}).status_code == 400
        assert call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                    ).status_code == 200
    rows = decisions(settings.database_url)
    assert [(r["status"], r["hook_instance"]) for r in rows] == [
        (400, body["hookInstance"]), (400, ""),
        (200, example("order-sign-47383-commercial-hepatocellular-carcinoma")["hookInstance"])]
    assert rows[0]["problem"] == [{"code": "invalid", "expression": ["context"]}]
    assert "Maren" not in repr(rows)
    assert rows[2]["problem"] is None
