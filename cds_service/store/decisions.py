"""Decision records in the database: written in one short transaction per hook call, read back
by coverage-assertion-id (the id a claim quotes, Da Vinci CRD §1.6) for payer staff."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, Table, select

from cds_service.store.clock import iso
from cds_service.store.feedback import feedback_for_cards, feedback_json
from cds_service.store.prepared import execute_many, execute_returning, insert_statement
from cds_service.store.records import DecisionRecord, OrderRecord
from cds_service.store.safe import storable
from cds_service.store.tables import coverage_assertion, decision, decision_card, decision_order


def save_decision(conn: Connection, record: DecisionRecord) -> int:
    """Insert the record and its rows; the caller's transaction commits them together. What the
    caller sent is stored made safe (``safe.py``): a record is never lost to its contents. The
    statements are prepared once (``prepared.py``): this runs for every hook call."""
    head = storable(decision, {
        "recorded_at": record.recorded_at,
        "hook_instance": record.hook_instance,
        "service_id": record.service_id,
        "hook": record.hook,
        "client_iss": record.client_iss,
        "client_tenant": record.client_tenant,
        "client_jti": record.client_jti,
        "fhir_server": record.fhir_server,
        "options": record.options,
        "fetched": list(record.fetched),
        "unmatched_orders": [_unmatched_json(o) for o in record.orders if o.policy_id is None]
        or None,
        "status": record.status,
        "problem": list(record.problem) if record.problem is not None else None,
        "crd_version": record.crd_version,
    })
    decision_id: int = execute_returning(
        conn, insert_statement(conn, decision, tuple(head), returning="id"), head)
    matched = [o for o in record.orders if o.policy_id is not None]
    if matched:
        _insert_rows(conn, decision_order, [storable(decision_order, {
            "decision_id": decision_id,
            "position": o.position,
            "resource_type": o.resource_type,
            "resource_id": o.resource_id,
            "codes": [list(c) for c in o.codes],
            "policy_id": o.policy_id,
            "policy_version": o.policy_version,
            "matched_system": o.matched[0] if o.matched else None,
            "matched_code": o.matched[1] if o.matched else None,
            "coverage_found": o.coverage_found,
            "coverage_reference": o.coverage_reference,
            "line_of_business": o.line_of_business,
            "line_basis": o.line_basis,
            "indications": list(o.indications) if o.policy_id else None,
            "covered": o.covered,
            "ignored_elements": list(o.ignored_elements) or None,
        }) for o in matched])
    if record.cards:
        _insert_rows(conn, decision_card, [storable(decision_card, {
            "decision_id": decision_id,
            "position": c.position,
            "card_uuid": c.uuid,
            "order_position": c.order_position,
            "policy_id": c.policy_id,
            "policy_version": c.policy_version,
            "line_of_business": c.line_of_business,
            "topic": c.topic,
            "indicator": c.indicator,
            "summary": c.summary,
            "suggestion_uuids": list(c.suggestion_uuids),
        }) for c in record.cards])
    if record.assertions:
        _insert_rows(conn, coverage_assertion, [storable(coverage_assertion, {
            "decision_id": decision_id,
            "position": a.position,
            "assertion_id": a.assertion_id,
            "order_position": a.order_position,
            "coverage_reference": a.coverage_reference,
            "covered": a.covered,
            "policy_id": a.policy_id,
            "policy_version": a.policy_version,
            "pa_needed": a.pa_needed,
            "doc_needed": list(a.doc_needed) or None,
            "doc_purpose": list(a.doc_purpose) or None,
            "info_needed": list(a.info_needed) or None,
            "other_policies": [{"id": i, "version": v} for i, v in a.other_policies] or None,
        }) for a in record.assertions])
    return decision_id


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    execute_many(conn, insert_statement(conn, table, tuple(rows[0])), rows)


def decisions_with_assertion(conn: Connection, assertion_id: str) -> list[int]:
    """Ids of the decisions that returned this coverage-assertion-id, newest first (one, unless
    the evaluator was given a non-random id generator)."""
    rows = conn.execute(
        select(coverage_assertion.c.decision_id)
        .where(coverage_assertion.c.assertion_id == assertion_id)
        .order_by(coverage_assertion.c.decision_id.desc()))
    return list(dict.fromkeys(rows.scalars()))


def load_decision(conn: Connection, decision_id: int) -> dict[str, Any] | None:
    """The whole record as JSON-ready data (CDS Hooks-style camelCase names)."""
    head = conn.execute(select(decision).where(decision.c.id == decision_id)).mappings().first()
    if head is None:
        return None
    orders = conn.execute(select(decision_order).where(decision_order.c.decision_id == decision_id)
                          .order_by(decision_order.c.position)).mappings().all()
    cards = conn.execute(select(decision_card).where(decision_card.c.decision_id == decision_id)
                         .order_by(decision_card.c.position)).mappings().all()
    assertions = conn.execute(
        select(coverage_assertion).where(coverage_assertion.c.decision_id == decision_id)
        .order_by(coverage_assertion.c.position)).mappings().all()
    feedback = feedback_for_cards(conn, [c["card_uuid"] for c in cards])
    return {
        "decision": head["id"],
        "recordedAt": iso(head["recorded_at"]),
        "hookInstance": head["hook_instance"],
        "service": head["service_id"],
        "hook": head["hook"],
        "status": head["status"],
        **_drop_none({"problem": head["problem"]}),
        "client": _drop_none({"iss": head["client_iss"], "tenant": head["client_tenant"],
                              "jti": head["client_jti"]}),
        **_drop_none({"fhirServer": head["fhir_server"], "crdVersion": head["crd_version"]}),
        "options": head["options"],
        "fetched": head["fetched"],
        "orders": sorted([*(_order_json(o) for o in orders),
                          *(_unmatched_out(o) for o in head["unmatched_orders"] or ())],
                         key=lambda o: int(o["position"])),
        "cards": [_card_json(c) for c in cards],
        "coverageAssertions": [_assertion_json(a) for a in assertions],
        "feedback": [feedback_json(f) for f in feedback],
    }


def _unmatched_json(o: OrderRecord) -> dict[str, Any]:
    return _drop_none({"position": o.position, "resourceType": o.resource_type,
                       "id": o.resource_id, "codes": [list(c) for c in o.codes],
                       "covered": o.covered})


def _unmatched_out(o: dict[str, Any]) -> dict[str, Any]:
    return {**o, "codes": [{"system": s, "code": c} for s, c in o["codes"]], "policy": None}


def _order_json(o: RowMapping) -> dict[str, Any]:
    out: dict[str, Any] = {
        "position": o["position"],
        "resourceType": o["resource_type"],
        **_drop_none({"id": o["resource_id"]}),
        "codes": [{"system": s, "code": c} for s, c in o["codes"]],
    }
    out.update(_drop_none({
        "policy": {"id": o["policy_id"], "version": o["policy_version"]},
        "matchedCode": {"system": o["matched_system"], "code": o["matched_code"]},
        "coverageFound": o["coverage_found"],
        "coverage": o["coverage_reference"],
        "lineOfBusiness": o["line_of_business"],
        "lineOfBusinessBasis": o["line_basis"],
        "indications": o["indications"],
        "covered": o["covered"],
        "ignoredElements": o["ignored_elements"],
    }))
    return out


def _card_json(c: RowMapping) -> dict[str, Any]:
    return _drop_none({
        "uuid": c["card_uuid"],
        "orderPosition": c["order_position"],
        "policy": {"id": c["policy_id"], "version": c["policy_version"]},
        "lineOfBusiness": c["line_of_business"],
        "topic": c["topic"],
        "indicator": c["indicator"],
        "summary": c["summary"],
        "suggestions": c["suggestion_uuids"],
    })


def _assertion_json(a: RowMapping) -> dict[str, Any]:
    return {
        "coverageAssertionId": a["assertion_id"],
        "position": a["position"],
        "orderPosition": a["order_position"],
        "coverage": a["coverage_reference"],
        "covered": a["covered"],
        "policy": ({"id": a["policy_id"], "version": a["policy_version"]}
                   if a["policy_id"] is not None else None),
        **_drop_none({"paNeeded": a["pa_needed"], "docNeeded": a["doc_needed"],
                      "docPurpose": a["doc_purpose"], "infoNeeded": a["info_needed"],
                      "otherPolicies": a["other_policies"]}),
    }


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
