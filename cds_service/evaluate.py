"""One hook call from validated request to answer: the decision core shared by the API and the CLI.

    context -> orders in scope (hooks.scope) -> policy match (pure) -> validate matched orders
    -> the member's Coverage, payer, line of business, indication (prefetch or EHR query)
    -> findings -> cards and coverage-information actions (pure) -> client options -> response

Coverage information: on a CRD primary hook every in-scope order gets one (CRD 2.2 §hook-16,
§resp-26), on order-select only the orders a policy matches; a Coverage that cannot be used is a
400 (CRD 2.2 hooks.md, error handling).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from typing import Any
from urllib.parse import quote

import uuid_utils
from pydantic import ValidationError

from cds_service.crd_versions import CrdVersion, canonical_context
from cds_service.errors import BadRequest
from cds_service.fhir.coding import codings, elements
from cds_service.fhir.data import Fetcher, RequestData
from cds_service.fhir.orders import (
    ORDER_TYPES,
    Order,
    another_patients,
    other_patients,
    referenced,
    walk,
)
from cds_service.fhir.reasons import Reason, codings_of, order_reasons
from cds_service.fhir.references import reference_of
from cds_service.fhir.validate import ignored_in, validate_resource
from cds_service.hooks.registry import ServiceDefinition
from cds_service.hooks.request import HookRequest, PatientContext
from cds_service.hooks.response import Action, Card, HookResponse
from cds_service.hooks.scope import bundle_entries, orders_in_scope
from cds_service.knowledge import Knowledge
from cds_service.payer import coverage as cov
from cds_service.policy.answer import Answer, combine, decide, rank
from cds_service.policy.models import Policy, ProcedureCode
from cds_service.respond import wording
from cds_service.respond.cards import associated_orders, build_card, detail, summary
from cds_service.respond.coverage_info import (
    Assertion,
    PolicyRef,
    already_asserted,
    assert_on,
    build_action,
    target,
)
from cds_service.respond.finding import Finding
from cds_service.respond.instructions import build_instructions_card
from cds_service.respond.options import Options, read_options

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
YIELD_EVERY = 50


@dataclass(frozen=True)
class Coverage:
    resource: dict[str, Any] | None
    basis: str
    others: tuple[str, ...] = ()
    """Where Coverages of another patient were found and left out (paths only, for the record)."""

    @cached_property
    def reference(self) -> str | None:
        rid = (self.resource or {}).get("id")
        return f"Coverage/{rid}" if isinstance(rid, str) and rid else None

    def check_id(self) -> None:
        """The id goes on the order and into the record: it must be a FHIR id, and it must be
        there (coverage information cites the Coverage, CRD ``coverage`` is 1..1)."""
        if self.resource is None:
            return
        rid = self.resource.get("id")
        if rid is None:
            raise BadRequest("the member's Coverage has no id, so coverage information cannot "
                             "cite it", expression="Coverage.id")
        if not (isinstance(rid, str) and FHIR_ID.fullmatch(rid)):
            raise BadRequest("the member's Coverage has an id that is not a FHIR id "
                             "([A-Za-z0-9-.]{1,64})", expression="Coverage.id")


@dataclass
class Evaluation:
    response: HookResponse
    orders: list[Order]
    findings: list[Finding] = field(default_factory=list)
    cards: list[tuple[Finding, Card]] = field(default_factory=list)
    actions: list[tuple[Assertion, Action, str]] = field(default_factory=list)
    """Each coverage-information action with what it asserts and its coverage-assertion-id."""
    assertions: dict[int, Assertion] = field(default_factory=dict)
    """What was asserted on each order (by order index), sent or already on the order."""
    fetched: list[str] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    ignored_elements: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Per order position: paths of elements R4 does not define, dropped while reading."""


def _uuid() -> str:
    """Card, suggestion and coverage-assertion ids: UUIDs of version 7 (RFC 9562), random but
    for a leading millisecond timestamp (the assertion says its date already). Each is a key of
    an index in the records database; random (version 4) keys put every order's row in another
    index page, and the page writes of a commit grew with the orders of a call (about 16 us per
    order of a 50-order call on SQLite), where time-ordered keys append to the same page."""
    return str(uuid_utils.uuid7())


class Evaluator:
    def __init__(self, knowledge: Knowledge, *, public_base_url: str,
                 new_id: Callable[[], str] = _uuid, today: Callable[[], date] = date.today,
                 accept_any_payer: bool = False) -> None:
        self.knowledge = knowledge
        self.accept_any_payer = accept_any_payer
        """Development only (CDS_ACCEPT_ANY_PAYER): the payer file's identifiers go unchecked."""
        self.base_url = public_base_url.rstrip("/")
        self.new_id = new_id
        self.today = today

    def with_knowledge(self, knowledge: Knowledge) -> Evaluator:
        """The same evaluator answering from another set of policies and payer file."""
        return Evaluator(knowledge, public_base_url=self.base_url, new_id=self.new_id,
                         today=self.today, accept_any_payer=self.accept_any_payer)

    def policy_url(self, policy: Policy) -> str:
        """Where the card and the coverage information cite the policy: the payer's address for
        it, else our page; of a policy with several versions, the page of the one applied."""
        if policy.source.url:
            return str(policy.source.url)
        if self.knowledge.policies.has_versions(policy.id):
            return f"{self.base_url}/policies/{policy.id}/versions/{quote(policy.version, safe='')}"
        return f"{self.base_url}/policies/{policy.id}"

    @property
    def policies_url(self) -> str:
        return f"{self.base_url}/policies"

    @property
    def override_system(self) -> str:
        return f"{self.base_url}/CodeSystem/override-reason"

    async def evaluate(self, request: HookRequest, service: ServiceDefinition,
                       fetcher: Fetcher | None, *, client_version: str | None = None,
                       ) -> Evaluation:
        """``client_version``: the CRD version the caller's trust-file entry names."""
        context = canonical_context(service.hook, request.context)
        if context is not request.context:  # an older release's field names (2.0.1 ``order``)
            request = request.model_copy(update={"context": context})
        read_context(service, request.context)
        options = read_options(request.extension, client_version)
        data = RequestData(context=request.context,
                           entries=bundle_entries(service, request.context),
                           prefetch=request.prefetch, templates=service.prefetch,
                           fetcher=fetcher, server=request.fhir_server)
        orders = await orders_in_scope(service, request.context, data)
        matches = await self.match_orders(orders, data)
        empty = HookResponse(cards=[], system_actions=[] if service.primary else None)
        evaluation = Evaluation(empty, orders, options=options)
        await read_matched(evaluation, matches, str(request.context.get("patientId", "")))
        # In scope for coverage information: the CRD request types (the extension's context).
        asserted = [o for o in orders if o.index in matches
                    or (service.primary and options.coverage_info
                        and o.resource_type in ORDER_TYPES)]
        if not asserted:
            evaluation.fetched = data.fetched
            return evaluation
        # The prefetched or queried Coverage is the same for every order without insurance of
        # its own: worked out once per call, not once per order.
        member: Coverage | None = None
        for n, order in enumerate(asserted):
            await _let_others_in(n)
            own = bool(elements(order.resource.get("insurance")))
            # A Coverage neither prefetched nor obtainable is a 412 even when no policy matched:
            # a primary hook owes coverage information on every call "unless reporting an
            # error" (CRD 2.2 §hook-16; 2.0.1 and 2.1 hooks.md: "SHALL, at minimum, return" it)
            # and the assertion cannot exist without the Coverage it cites (coverage 1..1).
            # 412 is the error for "the requested prefetch was not provided and the CRD server
            # was unable to invoke the queries itself" (2.2 foundation.md §found-32, 2.1 the
            # same; 2.0.1 defers to CDS Hooks §Prefetch). A Coverage read but not usable is
            # the 400 of hooks.md (2.1, 2.2: "no Coverage is accessible"), in ``coverage``.
            if member is not None and not own:
                coverage = member
            else:
                coverage = await self.coverage(order, data)
                coverage.check_id()
            if not own:
                member = coverage
            if coverage.others:
                evaluation.ignored_elements[order.index] = (
                    *evaluation.ignored_elements.get(order.index, ()), *coverage.others)
            found = [await self.finding(order, policy, code, coverage, data,
                                        drafts=service.drafts, primary=service.primary)
                     for policy, code in matches[order.index]] if order.index in matches else []
            evaluation.findings += found
            if coverage.reference is None:
                continue
            if order.id is None or not FHIR_ID.fullmatch(order.id):
                # Coverage information is an ``update`` of the order, which names it by its id
                # (CDS Hooks 2.0 §Action; CRD: the draft's own resourceType and id): without a
                # usable one it cannot be applied, so none is sent. The card still is, and the
                # record notes the id by its path.
                evaluation.ignored_elements[order.index] = (
                    *evaluation.ignored_elements.get(order.index, ()), f"{order.path}.id")
                continue
            evaluation.assertions[order.index] = self.assertion(order, found, coverage)
        evaluation.fetched = data.fetched
        self.respond(evaluation, service)
        return evaluation

    async def match_orders(self, orders: list[Order], data: RequestData,
                           ) -> dict[int, list[tuple[Policy, ProcedureCode]]]:
        """The policies and codes each order matches, by order index; orders whose product or
        request could not be read are marked so (in ``orders``)."""
        matches: dict[int, list[tuple[Policy, ProcedureCode]]] = {}
        today = self.today()
        names = self.knowledge.policies.names
        for i, order in enumerate(orders):
            await _let_others_in(i)
            codes, unread = await self.codes(order, data)
            if unread:
                orders[i] = order = replace(order, unread=(*order.unread, *unread))
            for system, code in codes:
                if names(system, code):
                    break
            else:
                # No policy names any of its codes: no match, whatever its date of service
                # (which only picks the version of a policy in force), so that is not read.
                continue
            found = self.match(codes, order.service_date or today)
            if found:
                matches[order.index] = found
        return matches

    async def codes(self, order: Order, data: RequestData,
                    ) -> tuple[list[tuple[str, str]], list[str]]:
        """The order's codes, with those of resources it names its product by (a
        DeviceRequest's Device, a MedicationRequest's Medication), and the references to such
        resources that could not be read (a policy may name what they hold)."""
        found, unread = order.codes(), []
        for resource in (order.resource, order.via):
            for ref, path in referenced(resource) if resource else ():
                target = await data.resolve(ref, resource)
                if target is None:
                    unread.append(ref)
                for concept in walk(target, path) if target else ():
                    found += codings(concept)
        return found, unread

    def match(self, codes: list[tuple[str, str]], on: date,
              ) -> list[tuple[Policy, ProcedureCode]]:
        """Every policy one of the codes names in its version in force on the date of service
        ``on``, each once (by the first of its codes)."""
        found: dict[str, tuple[Policy, ProcedureCode]] = {}
        for system, code in codes:
            for policy, pc in self.knowledge.policies.by_code(system, code, on):
                found.setdefault(policy.id, (policy, pc))
        return list(found.values())

    async def finding(self, order: Order, policy: Policy, code: ProcedureCode,
                      coverage: Coverage, data: RequestData, *, drafts: bool = True,
                      primary: bool = True) -> Finding:
        line, member_line, basis = None, None, coverage.basis
        if coverage.resource is not None:
            payer = self.knowledge.payer
            result = data.derived("line of business", coverage.resource,
                                  lambda resource: cov.line_of_business(payer, resource))
            basis = f"{coverage.basis}; {result.basis}"
            if result.line is not None and result.line.id in policy.determinations:
                line = result.line
            else:
                member_line = result.line
        reasons, read, foreign = await self.reasons(order, data)
        det = policy.determinations.get(line.id) if line is not None else None
        return Finding(
            answer=for_hook(decide(det, codings_of(reasons)), primary) if det else None,
            order=order, policy=policy, code=code,
            coverage_found=coverage.resource is not None,
            coverage_reference=coverage.reference,
            line=line, line_basis=basis,
            indications=tuple(policy.indications_for(codings_of(reasons))),
            reasons=tuple(reasons),
            policy_url=self.policy_url(policy),
            policy_lines=self.knowledge.lines_for(policy),
            member_line=member_line,
            removable=_removable(order) if drafts else None,
            ignored_elements=(*foreign, *(path for resource in (coverage.resource, *read)
                                          if resource is not None
                                          for path in data.derived("ignored", resource,
                                                                   ignored_in))),
        )

    def assertion(self, order: Order, found: list[Finding], coverage: Coverage) -> Assertion:
        """What the payer asserts on the order: the policies' answers for the member's line of
        business, combined (``policy.answer.combine``); ``indeterminate`` when a policy matched
        but the line is unknown, or when the policies that matched decide nothing for the
        member's line (the payer file's ``undecided_plan_reason``); the payer file's assertion
        when no policy matched."""
        assert coverage.reference is not None
        payer = self.knowledge.payer
        if not found and order.unread:
            # What the order asks for could not be read: no one can say whether a policy
            # applies (CRD 2.2 indeterminate, with the payer's reason; q9).
            return Assertion(order, coverage.reference, "indeterminate",
                             reason=payer.unreadable_order_reason)
        if not found:
            # No policy matched: the payer file's answer for orders no policy decides.
            rule = payer.unmatched_orders
            return Assertion(order, coverage.reference, rule.covered, rule.pa_needed,
                             tuple(rule.info_needed), rule.reason)
        deciding = [f for f in found if f.answer is not None]
        unknown_line = [f for f in found if f.answer is None and f.member_line is None]
        undecided = [f for f in found if f.undecided]
        if not deciding:
            # The member's line of business is unknown, or the policies decide nothing for it:
            # indeterminate with the payer file's reason for which (CRD 2.2, q9), citing them.
            cited = unknown_line or undecided
            reason = payer.unknown_plan_reason if unknown_line else payer.undecided_plan_reason
            f = cited[0]
            return Assertion(order, coverage.reference, "indeterminate", reason=reason,
                             billing_codes=tuple(dict.fromkeys(u.code for u in cited)),
                             policy_url=f.policy_url, policy_id=f.policy.id,
                             policy_version=f.policy.version,
                             other_policies=_refs(cited[1:]))
        ranked = ranked_findings(deciding)
        answer = combine([f.answer for f in ranked if f.answer is not None])
        first = ranked[0]
        return Assertion(
            order, coverage.reference, answer.covered,
            None if answer.covered == "not-covered" else answer.pa_needed,
            answer.info_needed, answer.statement,
            billing_codes=tuple(dict.fromkeys(f.code for f in ranked)),
            policy_url=first.policy_url, policy_id=first.policy.id,
            policy_version=first.policy.version, phrase=wording.headline(answer),
            doc_needed=answer.doc_needed, doc_purpose=answer.doc_purpose,
            further_reasons=wording.reason_quotes(answer),
            other_policies=_refs(ranked[1:]))

    async def coverage(self, order: Order, data: RequestData) -> Coverage:
        """The member's one active Coverage with this payer; the order's own ``insurance``
        wins over the prefetched or queried one."""
        candidates: list[dict[str, Any]] = []
        for item in elements(order.resource.get("insurance")):
            ref = reference_of(item)
            found = await data.resolve(ref, order.resource) if ref else None
            if found is not None and found.get("resourceType") == "Coverage":
                candidates.append(found)
        source = f"{order.resource_type}.insurance"
        if not candidates:
            candidates = [r for r in await data.prefetched("coverage")
                          if r.get("resourceType") == "Coverage"]
            source = "prefetch coverage"
        patient_id = str(data.context.get("patientId", ""))
        today = self.today().isoformat()
        others = tuple(f"{source}[{i}]" for i, c in enumerate(candidates)
                       if another_patients(c, patient_id))
        active = [c for c in candidates
                  if cov.is_active(c) and cov.applies(c, patient_id, today)]
        payer = self.knowledge.payer
        if not active:
            if payer.member_without_coverage == "card":
                return Coverage(None, f"{source}: no active Coverage", others)
            raise cov.no_coverage(source)
        if payer.identifiers and not self.accept_any_payer:
            named = [(c, await self.payor_ids(c, data)) for c in active]
            active = [c for c, ids in named if cov.is_ours(payer, ids)]
            if not active:
                raise cov.not_ours(payer, any(ids for _, ids in named))
        if len(active) > 1:
            raise cov.several(len(active))
        return Coverage(active[0], f"{source}: 1 active Coverage", others)

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
                      ) -> tuple[list[Reason], list[dict[str, Any]], list[str]]:
        """The order's reasons, the resources read for them outside the order itself, and the
        paths of the reasons left out because they are another patient's."""
        reasons: list[Reason] = []
        outside: list[dict[str, Any]] = []
        foreign: list[str] = []
        patient_id = str(data.context.get("patientId", ""))
        # An Appointment's reasons count with those of the request it is booked for.
        for resource, path in ((order.resource, order.path), (order.via, f"{order.path}(via)")):
            if resource is None:
                continue
            referenced = []
            for i, item in enumerate(elements(resource.get("reasonReference"))):
                ref = reference_of(item)
                target = await data.resolve(ref, resource) if ref else None
                if target is not None and another_patients(target, patient_id):
                    # A Condition of another patient is no indication of this one's (CDS Hooks
                    # 2.0: the context names one patient): left out of the decision, and its
                    # path (never its content) goes on the record.
                    foreign.append(f"{path}.reasonReference[{i}]")
                    continue
                referenced.append((item, target))
            outside += [target for item, target in referenced if target is not None
                        and not str(reference_of(item)).startswith("#")]
            reasons += order_reasons(resource, referenced)
        return reasons, outside, foreign

    def card(self, f: Finding, answer: Answer | None, also: tuple[Finding, ...],
             version: CrdVersion, *, name_order: bool) -> Card | None:
        """The card an order needs: an Instructions card (CRD cards.md) when coverage holds but
        prior authorization or documentation is needed, else the policy's card (none for a
        plain ``covered``)."""
        if answer is not None and wording.is_instructions(answer):
            return build_instructions_card(
                summary=summary(f, answer),
                detail=detail(f, answer, also, name_order=name_order),
                payer=f.policy.payer, source_url=self.policies_url, version=version,
                new_id=self.new_id, orders=associated_orders(f))
        return build_card(f, new_id=self.new_id, version=version,
                          override_system=self.override_system, source_url=self.policies_url,
                          answer=answer, also=also, name_order=name_order)

    def respond(self, evaluation: Evaluation, service: ServiceDefinition) -> None:
        options = evaluation.options
        today = self.today()
        cards: list[Card] = []
        actions: list[Action] = []
        # A policy that decides nothing for the member's known plan type gets no card: it could
        # only quote its wording for other plan types (its coverage information says so).
        plan = card_plan([f for f in evaluation.findings if not f.undecided])
        for f, answer, also in plan:
            if f.policy.card_topic not in options.disabled_card_types \
                    and len(cards) < options.max_cards:
                card = self.card(f, answer, also, options.version, name_order=len(plan) > 1)
                if card is not None:
                    cards.append(card)
                    evaluation.cards.append((f, card))
        if options.coverage_info:
            day = today.isoformat()
            for order in evaluation.orders:
                a = evaluation.assertions.get(order.index)
                if a is None:
                    continue
                assertion_id = self.new_id()
                a, extension = assert_on(a, assertion_id=assertion_id, today=day,
                                         version=options.version)
                if already_asserted(target(order, options.version), extension):
                    continue
                action = build_action(a, extension=extension, payer=self.knowledge.payer.name,
                                      version=options.version)
                actions.append(action)
                evaluation.actions.append((a, action, assertion_id))
        evaluation.response = HookResponse(
            cards=cards, system_actions=actions if (actions or service.primary) else None)


async def _let_others_in(n: int) -> None:
    """Every ``YIELD_EVERY`` orders, let the event loop serve others (probes, other calls): a
    call of hundreds of orders is bounded, but without this it held the worker's loop for its
    whole time (0.2 s of CPU per 800 orders here; more on a busy core)."""
    if n % YIELD_EVERY == YIELD_EVERY - 1:
        await asyncio.sleep(0)


async def read_matched(evaluation: Evaluation,
                       matches: dict[int, list[tuple[Policy, ProcedureCode]]],
                       patient_id: str) -> None:
    """Check the orders a policy matched before deciding on them."""
    matched = [o for o in evaluation.orders if o.index in matches]
    for order in matched:
        if any(other_patients(r, patient_id) for r in (order.resource, order.via) if r):
            # A determination on this member's Coverage for another patient's order would be
            # false; the context names one patient (CDS Hooks 2.0 context.patientId). (Orders
            # no policy matches are left alone: real clients' examples name other patients
            # there, and what they are asserted says nothing about the member.)
            raise BadRequest(f"{order.path} is an order for another patient than "
                             "context.patientId", expression=order.path)
    for n, order in enumerate(matched):
        await _let_others_in(n)
        # Lenient reading: elements R4 does not define are ignored (CRD 2.2 §found-33) and their
        # paths go on the record. The order is echoed as the EHR sent it (§resp-37), its local
        # elements included, less nulls and empty values.
        reading = validate_resource(order.resource, order.path)
        if reading.ignored:
            evaluation.ignored_elements[order.index] = reading.ignored


def for_hook(answer: Answer, primary: bool) -> Answer:
    """CRD §hook-19: coverage information on order-select (a secondary hook) SHALL NOT say
    doc-needed clinical or admin; the card, worded from the same answer, does not either."""
    if primary:
        return answer
    return replace(answer, documentation=tuple(d for d in answer.documentation
                                               if d.needed == "patient"))


def card_plan(findings: list[Finding],
              ) -> list[tuple[Finding, Answer | None, tuple[Finding, ...]]]:
    """The cards an order needs: one per order for the policies that decide for the member's
    line (led by the most restrictive, with their combined answer, so the facts are said once and
    agree with the order's one coverage-information), one per policy that cannot decide (what
    it says for each line)."""
    by_order: dict[int, list[Finding]] = {}
    for f in findings:
        by_order.setdefault(f.order.index, []).append(f)
    plan: list[tuple[Finding, Answer | None, tuple[Finding, ...]]] = []
    for group in by_order.values():
        ranked = ranked_findings(group)
        if ranked:
            answer = combine([f.answer for f in ranked if f.answer is not None])
            plan.append((ranked[0], answer, tuple(ranked[1:])))
        else:
            plan += [(f, None, ()) for f in group]
    return plan


def ranked_findings(found: list[Finding]) -> list[Finding]:
    """The findings that decide for the member's line, most restrictive answer first (the
    policy that decides the combined answer leads; README "Several policies, one order")."""
    return sorted((f for f in found if f.answer is not None),
                  key=lambda f: rank(f.answer) if f.answer else 0)


def _refs(found: list[Finding]) -> tuple[PolicyRef, ...]:
    return tuple(PolicyRef(f.policy.id, f.policy.version, f.policy_url) for f in found)


def _removable(order: Order) -> tuple[str, str] | None:
    draft = order.drafted
    if draft.reference is None:
        return None
    return draft.reference, "Appointment" if draft.resource_type == "Appointment" else "Order"


def read_context(service: ServiceDefinition, context: dict[str, Any]) -> PatientContext:
    try:
        return service.context_model.model_validate(context)
    except ValidationError as exc:
        raise BadRequest.from_validation(exc, f"invalid context for {service.hook}",
                                         root="context") from None
