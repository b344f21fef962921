"""One hook call from validated request to answer: the decision core shared by the API and the CLI.

    context -> orders in scope -> policy match (pure) -> validate matched orders (R4B)
    -> coverage, payer, line of business, indication (prefetch or EHR query) -> findings
    -> cards and coverage-information actions (pure) -> client options -> response
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from pydantic import ValidationError

from cds_service.errors import BadRequest
from cds_service.fhir.coding import elements
from cds_service.fhir.data import Fetcher, RequestData
from cds_service.fhir.orders import Order, order_codes, orders_in_scope
from cds_service.fhir.reasons import Reason, codings_of, order_reasons
from cds_service.fhir.references import reference_of
from cds_service.fhir.validate import ignored_in, validate_resource
from cds_service.hooks.registry import PREFETCH, ServiceDefinition
from cds_service.hooks.request import HookRequest, OrderSelectContext, OrderSignContext
from cds_service.hooks.response import Action, Card, HookResponse
from cds_service.knowledge import Knowledge
from cds_service.payer import coverage as cov
from cds_service.policy.models import Policy, ProcedureCode
from cds_service.respond.cards import build_card
from cds_service.respond.coverage_info import build_action
from cds_service.respond.finding import Finding
from cds_service.respond.options import Options, read_options

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class Coverage:
    resource: dict[str, Any] | None
    basis: str

    @property
    def reference(self) -> str | None:
        rid = (self.resource or {}).get("id")
        return f"Coverage/{rid}" if isinstance(rid, str) and rid else None

    def check_id(self) -> None:
        """The id goes on the order and into the record: it must be a FHIR id."""
        rid = (self.resource or {}).get("id")
        if rid is not None and not (isinstance(rid, str) and FHIR_ID.fullmatch(rid)):
            raise BadRequest("the member's Coverage has an id that is not a FHIR id "
                             "([A-Za-z0-9-.]{1,64})", expression="Coverage.id")


@dataclass
class Evaluation:
    response: HookResponse
    orders: list[Order]
    findings: list[Finding] = field(default_factory=list)
    cards: list[tuple[Finding, Card]] = field(default_factory=list)
    actions: list[tuple[Finding, Action, str]] = field(default_factory=list)
    """Each coverage-information action with its coverage-assertion-id."""
    fetched: list[str] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    ignored_elements: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Per draft-order position: paths of elements R4 does not define, dropped while reading."""


def _uuid() -> str:
    return str(uuid.uuid4())


class Evaluator:
    def __init__(self, knowledge: Knowledge, *, public_base_url: str,
                 new_id: Callable[[], str] = _uuid, today: Callable[[], date] = date.today) -> None:
        self.knowledge = knowledge
        self.base_url = public_base_url.rstrip("/")
        self.new_id = new_id
        self.today = today

    def policy_url(self, policy: Policy) -> str:
        if policy.source.url:
            return str(policy.source.url)
        return f"{self.base_url}/policies/{policy.id}"

    @property
    def policies_url(self) -> str:
        return f"{self.base_url}/policies"

    @property
    def override_system(self) -> str:
        return f"{self.base_url}/CodeSystem/override-reason"

    async def evaluate(self, request: HookRequest, service: ServiceDefinition,
                       fetcher: Fetcher | None) -> Evaluation:
        context = read_context(service, request.context)
        selections = context.selections if isinstance(context, OrderSelectContext) else None
        orders = orders_in_scope(context.entries(), selections)
        options = read_options(request.extension)
        matches = [(o, *m) for o in orders if (m := self.match(o)) is not None]
        empty = HookResponse(cards=[], system_actions=[] if service.primary else None)
        evaluation = Evaluation(empty, orders, options=options)
        if not matches:
            return evaluation
        for i, (order, policy, code) in enumerate(matches):
            # Lenient reading: the order is used, and echoed, without elements R4 does not define.
            reading = validate_resource(order.resource, order.path)
            matches[i] = (replace(order, resource=reading.resource), policy, code)
            if reading.ignored:
                evaluation.ignored_elements[order.index] = reading.ignored
        data = RequestData(context=request.context, entries=context.entries(),
                           prefetch=request.prefetch, templates=PREFETCH, fetcher=fetcher)
        for order, policy, code in matches:
            evaluation.findings.append(await self.finding(order, policy, code, data))
        evaluation.fetched = data.fetched
        self.respond(evaluation, service)
        return evaluation

    def match(self, order: Order) -> tuple[Policy, ProcedureCode] | None:
        if order.resource_type != "ServiceRequest":
            return None
        for system, code in order_codes(order.resource):
            found = self.knowledge.policies.by_code(system, code)
            if found:
                return found
        return None

    async def finding(self, order: Order, policy: Policy, code: ProcedureCode,
                      data: RequestData) -> Finding:
        coverage = await self.coverage(order, data)
        coverage.check_id()
        line, basis = None, coverage.basis
        if coverage.resource is not None:
            result = cov.line_of_business(self.knowledge.payer, coverage.resource)
            basis = f"{coverage.basis}; {result.basis}"
            if result.line is not None and result.line.id in policy.determinations:
                line = result.line
        reasons, read = await self.reasons(order, data)
        return Finding(
            order=order, policy=policy, code=code,
            coverage_found=coverage.resource is not None,
            coverage_reference=coverage.reference,
            line=line, line_basis=basis,
            indications=tuple(policy.indications_for(codings_of(reasons))),
            reasons=tuple(reasons),
            policy_url=self.policy_url(policy),
            policy_lines=self.knowledge.lines_for(policy),
            ignored_elements=tuple(path for resource in (coverage.resource, *read)
                                   if resource is not None for path in ignored_in(resource)),
        )

    async def coverage(self, order: Order, data: RequestData) -> Coverage:
        """The member's active coverage with this payer; the order's own ``insurance`` wins."""
        candidates: list[dict[str, Any]] = []
        for item in elements(order.resource.get("insurance")):
            ref = reference_of(item)
            found = await data.resolve(ref, order.resource) if ref else None
            if found is not None and found.get("resourceType") == "Coverage":
                candidates.append(found)
        source = "ServiceRequest.insurance"
        if not candidates:
            candidates = [r for r in await data.prefetched("coverage")
                          if r.get("resourceType") == "Coverage"]
            source = "prefetch coverage"
        patient_id = str(data.context.get("patientId", ""))
        today = self.today().isoformat()
        active = [c for c in candidates
                  if cov.is_active(c) and cov.applies(c, patient_id, today)]
        if not active:
            return Coverage(None, f"{source}: no active Coverage")
        payer = self.knowledge.payer
        if payer.identifiers:
            active = [c for c in active if cov.is_ours(payer, await self.payor_ids(c, data))]
            if not active:
                raise BadRequest(
                    "The member's Coverage does not name this payer (Coverage.payor identifier "
                    f"expected: {cov.describe_identifiers(payer.identifiers)}); this endpoint "
                    "handles only its own members (Da Vinci CRD 2.2).",
                    expression="Coverage.payor")
        # Several active coverages: the primary one (lowest Coverage.order) decides.
        active.sort(key=lambda c: c["order"] if isinstance(c.get("order"), int) else 1 << 30)
        return Coverage(active[0], f"{source}: {len(active)} active Coverage(s)")

    async def payor_ids(self, coverage: dict[str, Any], data: RequestData) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for payor in elements(coverage.get("payor")):
            if not isinstance(payor, dict):
                continue
            ref = reference_of(payor)
            org = await data.resolve(ref, coverage) if ref else None
            found += cov.payor_identifiers(payor, org)
        return found

    async def reasons(self, order: Order, data: RequestData,
                      ) -> tuple[list[Reason], list[dict[str, Any]]]:
        """The order's reasons, and the resources read for them outside the order itself."""
        referenced = []
        for item in elements(order.resource.get("reasonReference")):
            ref = reference_of(item)
            referenced.append((item, await data.resolve(ref, order.resource) if ref else None))
        outside = [target for item, target in referenced if target is not None
                   and not str(reference_of(item)).startswith("#")]
        return order_reasons(order.resource, referenced), outside

    def respond(self, evaluation: Evaluation, service: ServiceDefinition) -> None:
        options = evaluation.options
        today = self.today()
        cards: list[Card] = []
        actions: list[Action] = []
        for f in evaluation.findings:
            if f.policy.card_topic not in options.disabled_card_types \
                    and len(cards) < options.max_cards:
                card = build_card(f, new_id=self.new_id, crd_version=options.crd_version,
                                  override_system=self.override_system,
                                  source_url=self.policies_url)
                cards.append(card)
                evaluation.cards.append((f, card))
            if options.coverage_info and f.determination and f.coverage_reference:
                assertion_id = self.new_id()
                action = build_action(f, assertion_id=assertion_id, today=today,
                                      crd_version=options.crd_version)
                actions.append(action)
                evaluation.actions.append((f, action, assertion_id))
        evaluation.response = HookResponse(
            cards=cards, system_actions=actions if (actions or service.primary) else None)


def read_context(service: ServiceDefinition, context: dict[str, Any]) -> OrderSignContext:
    try:
        return service.context_model.model_validate(context)
    except ValidationError as exc:
        raise BadRequest.from_validation(exc, f"invalid context for {service.hook}",
                                         root="context") from None
