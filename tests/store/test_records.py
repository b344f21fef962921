"""The decision record (pure): what was asked, found and answered, and nothing it must not keep."""

from __future__ import annotations

import dataclasses

import orjson

from cds_service.store.records import OrderRecord, decision_record
from tests.store.helpers import (
    EHR,
    KNOWLEDGE,
    WHEN,
    assertion_ids,
    counter_ids,
    evaluate,
    record_for,
)
from tests.support import example

CPT = "http://www.ama-assn.org/go/cpt"


def test_a_matched_order_records_policy_line_of_business_and_determination() -> None:
    record = record_for("order-sign-47383-medicare-advantage-hepatocellular-carcinoma")
    assert (record.service_id, record.hook) == ("crd-order-sign", "order-sign")
    assert record.hook_instance == example(
        "order-sign-47383-medicare-advantage-hepatocellular-carcinoma")["hookInstance"]
    assert (record.client_iss, record.client_tenant, record.client_jti) == (
        EHR.iss, EHR.tenant, EHR.jti)
    assert record.recorded_at == WHEN
    [order] = record.orders
    assert order.resource_type == "ServiceRequest" and order.resource_id == "sr-47383"
    assert (CPT, "47383") in order.codes
    assert order.policy_id == "cryosurgical-ablation-liver-tumors"
    assert order.policy_version and order.matched == (CPT, "47383")
    assert order.line_of_business == "medicare-advantage"
    assert order.line_basis and "Coverage.type" in order.line_basis
    assert order.coverage_reference == "Coverage/cov-medicare-advantage"
    assert order.indications == ("hepatocellular-carcinoma",)
    assert order.covered == "not-covered"


def test_card_suggestion_and_assertion_ids_are_those_sent() -> None:
    service, request, evaluation = evaluate(
        "order-sign-47371-commercial-colorectal-liver-metastases", new_id=counter_ids())
    record = decision_record(service, request, EHR, evaluation, recorded_at=WHEN)
    sent = evaluation.response.to_json_dict()
    assert [c.uuid for c in record.cards] == [c["uuid"] for c in sent["cards"]]
    assert [list(c.suggestion_uuids) for c in record.cards] == [
        [s["uuid"] for s in c["suggestions"]] for c in sent["cards"]]
    assert [a.assertion_id for a in record.assertions] == assertion_ids(sent)
    [card] = record.cards
    assert card.summary == sent["cards"][0]["summary"]
    assert card.indicator == "warning" and card.line_of_business == "commercial"
    [assertion] = record.assertions
    assert (assertion.coverage_reference, assertion.covered) == (
        "Coverage/cov-commercial", "not-covered")
    assert assertion.order_position == card.order_position == 0


def test_orders_no_policy_matched_are_recorded_with_their_codes_only() -> None:
    record = record_for("order-sign-mixed-orders")
    matched = [o for o in record.orders if o.policy_id]
    unmatched = [o for o in record.orders if not o.policy_id]
    assert matched and unmatched
    for order in unmatched:
        # Codes, and what the payer file asserts for orders no policy matches (CRD 2.2).
        assert order == OrderRecord(order.position, order.resource_type, order.resource_id,
                                    order.codes, covered="indeterminate")
    assert [o.position for o in record.orders] == sorted(o.position for o in record.orders)


def test_a_call_without_guidance_is_recorded_too() -> None:
    # CRD §found-37: every invocation is logged, including those we had nothing to say about.
    record = record_for("order-sign-unrelated-orders")
    assert record.orders and not record.cards
    assert [(a.order_position, a.covered, a.policy_id) for a in record.assertions] == [
        (o.position, "indeterminate", None) for o in record.orders]


def test_no_coverage_means_no_assertion_but_the_card_is_recorded() -> None:
    # With the payer file's informational card for members without coverage.
    payer = KNOWLEDGE.payer.model_copy(update={"member_without_coverage": "card"})
    record = record_for("order-sign-47383-no-coverage-null",
                        knowledge=dataclasses.replace(KNOWLEDGE, payer=payer))
    [order] = record.orders
    assert order.coverage_found is False and order.line_of_business is None
    assert order.covered is None and record.cards and not record.assertions


def test_client_options_that_shaped_the_answer_are_recorded() -> None:
    body = example("order-sign-47383-commercial-hepatocellular-carcinoma")
    body["extension"] = {"davinci-crd.configuration": {"coverage-info": False},
                         "davinci-crd.requestedVersion": "2.1"}
    record = record_for(body)
    assert record.options["coverageInfo"] is False and record.options["crdVersion"] == "2.1"
    assert record.crd_version == "2.1"
    assert not record.assertions


def test_the_version_answered_is_recorded_when_the_client_names_none() -> None:
    body = example("order-sign-47383-commercial-hepatocellular-carcinoma")
    del body["extension"]
    assert record_for(body).crd_version == "2.0.1"


def test_the_record_keeps_no_token_and_no_clinical_resource() -> None:
    # CRD §sec-5/6: received data only for audit; a token never (CDS Hooks 2.0 §Security).
    body = example("order-sign-47383-commercial-hepatocellular-carcinoma")
    body["fhirServer"] = "https://ehr.example/fhir"
    body["fhirAuthorization"] = {"access_token": "SECRET-ACCESS-TOKEN", "token_type": "Bearer",
                                 "expires_in": 30, "scope": "user/Coverage.read",
                                 "subject": "cds-service"}
    record = record_for(body)
    flat = orjson.dumps(dataclasses.asdict(record), default=str).decode()
    assert "SECRET-ACCESS-TOKEN" not in flat
    assert record.fhir_server == "https://ehr.example/fhir"
    patient = body["context"]["patientId"]
    assert patient not in flat
    for resource in ("Patient", "Condition"):
        assert f'"{resource}"' not in flat
