"""Revision 0002 moves orders no policy matched onto the decision row without losing any."""

from __future__ import annotations

from alembic import command
from sqlalchemy import func, select, text

from cds_service.store.db import Database, _alembic_config
from cds_service.store.decisions import load_decision
from cds_service.store.tables import decision_order


def test_unmatched_order_rows_move_onto_the_decision_row(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.write() as conn:
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(text(
                "INSERT INTO decision (id, recorded_at, hook_instance, service_id, hook, "
                "client_iss, options, fetched) VALUES (7, '2026-11-25 10:00:00', 'hi-1', "
                "'crd-order-sign', 'order-sign', 'https://ehr.example', '{}', '[]')"))
            conn.execute(text(
                "INSERT INTO decision_order (decision_id, position, resource_type, resource_id, "
                "codes, policy_id, policy_version) VALUES "
                "(7, 0, 'ServiceRequest', 'mri', '[[\"http://www.ama-assn.org/go/cpt\", "
                "\"74183\"]]', NULL, NULL), "
                "(7, 1, 'ServiceRequest', 'cryo', '[[\"http://www.ama-assn.org/go/cpt\", "
                "\"47383\"]]', 'cryosurgical-ablation-liver-tumors', '2021-12'), "
                "(7, 2, 'MedicationRequest', NULL, '[]', NULL, NULL)"))
        db.upgrade()
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(decision_order)).scalar_one() == 1
            record = load_decision(conn, 7)
        assert record is not None
        assert [(o["position"], o["resourceType"], o.get("id"), o["policy"])
                for o in record["orders"]] == [
            (0, "ServiceRequest", "mri", None),
            (1, "ServiceRequest", "cryo",
             {"id": "cryosurgical-ablation-liver-tumors", "version": "2021-12"}),
            (2, "MedicationRequest", None, None)]
        assert record["orders"][0]["codes"] == [
            {"system": "http://www.ama-assn.org/go/cpt", "code": "74183"}]
    finally:
        db.dispose()
