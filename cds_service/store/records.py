"""A decision record: what one hook call was asked, what it found and what it answered (pure).

Da Vinci CRD §found-37: "SHALL log every CRD hook invocation and its response" for dispute
resolution; the coverage-assertion-id of each coverage-information action links the record to
the claim that later quotes it. CRD §sec-5/6 allow keeping received data for audit only, so the
record keeps identifiers, codes and our own wording, never clinical resources, and nothing from
the Authorization header or ``fhirAuthorization``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from cds_service.auth.client import Client
from cds_service.errors import ServiceError
from cds_service.evaluate import Evaluation
from cds_service.hooks.registry import ServiceDefinition
from cds_service.hooks.request import HookRequest
from cds_service.hooks.response import Card


# The rows of a record are named tuples, not frozen dataclasses: a call makes one per order,
# card and coverage-information action, and a frozen dataclass sets each field through
# object.__setattr__ (an unmatched order's row took 1.8 us to make, now 0.4; issue 22).
class OrderRecord(NamedTuple):
    position: int
    """Index in the hook's orders (context.draftOrders.entry, appointments, dispatchedOrders)."""
    resource_type: str
    resource_id: str | None
    codes: tuple[tuple[str, str], ...]
    policy_id: str | None = None
    policy_version: str | None = None
    matched: tuple[str, str] | None = None
    """(system, code) by which the policy matched."""
    coverage_found: bool | None = None
    coverage_reference: str | None = None
    line_of_business: str | None = None
    line_basis: str | None = None
    indications: tuple[str, ...] = ()
    covered: str | None = None
    ignored_elements: tuple[str, ...] = ()
    """Paths of elements R4 does not define, dropped while reading the order (no values)."""


class CardRecord(NamedTuple):
    position: int
    uuid: str
    order_position: int
    policy_id: str
    policy_version: str
    line_of_business: str | None
    topic: str | None
    indicator: str
    summary: str
    suggestion_uuids: tuple[str, ...]


class AssertionRecord(NamedTuple):
    position: int
    """Index in the response's systemActions."""
    assertion_id: str
    order_position: int
    coverage_reference: str
    covered: str
    policy_id: str | None
    """None for the payer file's assertion on an order no policy matched."""
    policy_version: str | None
    pa_needed: str | None = None
    doc_needed: tuple[str, ...] = ()
    doc_purpose: tuple[str, ...] = ()
    info_needed: tuple[str, ...] = ()
    other_policies: tuple[tuple[str, str], ...] = ()
    """(id, version) of further policies combined into this assertion."""


@dataclass(frozen=True)
class DecisionRecord:
    recorded_at: datetime
    hook_instance: str
    service_id: str
    hook: str
    client_iss: str
    client_tenant: str | None
    client_jti: str | None
    fhir_server: str | None
    options: dict[str, Any]
    fetched: tuple[str, ...]
    orders: tuple[OrderRecord, ...]
    cards: tuple[CardRecord, ...]
    assertions: tuple[AssertionRecord, ...]
    status: int = 200
    problem: tuple[dict[str, Any], ...] | None = None
    crd_version: str | None = None
    """The CRD release the answer was shaped for (``crd_versions``)."""


def decision_record(service: ServiceDefinition, request: HookRequest, client: Client,
                    evaluation: Evaluation, *, recorded_at: datetime) -> DecisionRecord:
    findings = {f.order.index: f for f in evaluation.findings}
    orders = []
    for order in evaluation.orders:
        codes = tuple(order.codes())
        f = findings.get(order.index)
        asserted = evaluation.assertions.get(order.index)
        member_line = (f.line or f.member_line) if f is not None else None
        if f is None:
            orders.append(OrderRecord(order.index, order.resource_type, order.id, codes,
                                      covered=asserted.covered if asserted else None,
                                      ignored_elements=evaluation.ignored_elements.get(
                                          order.index, ())))
            continue
        orders.append(OrderRecord(
            order.index, order.resource_type, order.id, codes,
            policy_id=f.policy.id, policy_version=f.policy.version,
            matched=(f.code.system, f.code.code),
            coverage_found=f.coverage_found, coverage_reference=f.coverage_reference,
            # The member's line of business, also when the policy does not decide for it.
            line_of_business=member_line.id if member_line else None,
            line_basis=f.line_basis,
            indications=tuple(i.id for i in f.indications),
            covered=asserted.covered if asserted else None,
            ignored_elements=tuple(dict.fromkeys(
                (*evaluation.ignored_elements.get(order.index, ()), *f.ignored_elements)))))
    cards = tuple(
        CardRecord(
            position=i, uuid=card.uuid, order_position=f.order.index,
            policy_id=f.policy.id, policy_version=f.policy.version,
            line_of_business=f.line.id if f.line else None,
            topic=card.source.topic.code if card.source.topic else None,
            indicator=card.indicator, summary=card.summary,
            suggestion_uuids=_suggestion_uuids(card))
        for i, (f, card) in enumerate(evaluation.cards))
    # evaluation.cards and evaluation.actions are in the order of the response's arrays.
    assertions = tuple(
        AssertionRecord(
            position=i, assertion_id=assertion_id, order_position=a.order.index,
            coverage_reference=a.coverage_reference, covered=a.covered,
            policy_id=a.policy_id, policy_version=a.policy_version, pa_needed=a.pa_needed,
            doc_needed=a.doc_needed, doc_purpose=a.doc_purpose, info_needed=a.info_needed,
            other_policies=tuple((p.id, p.version) for p in a.other_policies))
        for i, (a, _action, assertion_id) in enumerate(evaluation.actions))
    options = evaluation.options
    return DecisionRecord(
        recorded_at=recorded_at,
        hook_instance=request.hook_instance,
        service_id=service.id,
        hook=request.hook,
        client_iss=client.iss,
        client_tenant=client.tenant,
        client_jti=client.jti,
        fhir_server=request.fhir_server,
        options={"crdVersion": options.version.name, "coverageInfo": options.coverage_info,
                 "maxCards": options.max_cards,
                 "disabledCardTypes": sorted(options.disabled_card_types)},
        fetched=tuple(evaluation.fetched),
        orders=tuple(orders),
        cards=cards,
        assertions=assertions,
        crd_version=options.version.name,
    )


def refusal_record(service: ServiceDefinition, request: HookRequest | None, client: Client,
                   error: ServiceError, *, recorded_at: datetime) -> DecisionRecord:
    """A call we answered with a 4xx after authenticating the caller. Issue codes and element
    paths are kept, never diagnostics text (it can quote what the caller sent)."""
    return DecisionRecord(
        recorded_at=recorded_at,
        hook_instance=request.hook_instance if request else "",
        service_id=service.id,
        hook=request.hook if request else service.hook,
        client_iss=client.iss,
        client_tenant=client.tenant,
        client_jti=client.jti,
        fhir_server=request.fhir_server if request else None,
        options={},
        fetched=(),
        orders=(),
        cards=(),
        assertions=(),
        status=error.status,
        problem=tuple({"code": i.code, "expression": list(i.expression)} for i in error.issues),
    )


def _suggestion_uuids(card: Card) -> tuple[str, ...]:
    return tuple(s.uuid for s in card.suggestions or ())

