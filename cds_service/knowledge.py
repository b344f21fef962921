"""What the service knows: the policies and the payer file, loaded and checked against each other.

Loaded at start-up and again on each reload (``reload.py``); any inconsistency is a
``ConfigurationError`` naming the file and field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cds_service.config import Settings
from cds_service.errors import ConfigurationError
from cds_service.fhir.orders import Order
from cds_service.payer.models import LineOfBusiness, PayerConfig, load_payer
from cds_service.policy.answer import Answer, possible_answers
from cds_service.policy.loader import PolicySet, load_policies
from cds_service.policy.models import Determination, Policy
from cds_service.respond.cards import summary
from cds_service.respond.finding import Finding
from cds_service.respond.wording import MAX_SUMMARY

log = logging.getLogger("cds_service.payer")


@dataclass(frozen=True)
class Knowledge:
    policies: PolicySet
    payer: PayerConfig

    def lines_for(self, policy: Policy) -> tuple[tuple[LineOfBusiness, Determination], ...]:
        return tuple((line, policy.determinations[line.id])
                     for line in self.payer.lines_of_business if line.id in policy.determinations)

    def card_types(self) -> list[str]:
        return sorted({lp.policy.card_topic for lp in self.policies.all()})

    def override_reasons(self) -> dict[str, str]:
        return self.payer.override_reasons()


def load_knowledge(policy_dir: Path | None, payer_file: Path | None) -> Knowledge:
    knowledge = Knowledge(load_policies(policy_dir), load_payer(payer_file))
    for lp in knowledge.policies.all():
        problems = _cross_check(knowledge, lp.policy)
        if problems:
            raise ConfigurationError(str(lp.path), problems)
    return knowledge


def _cross_check(knowledge: Knowledge, policy: Policy) -> list[str]:
    known = [line.id for line in knowledge.payer.lines_of_business]
    problems = [f"determinations.{lob}: no line of business {lob!r} in the payer file "
                f"(its ids: {', '.join(known)})"
                for lob in policy.determinations if lob not in known]
    if problems:
        return problems
    # Every summary this policy can produce must fit CDS Hooks' < 140 characters.
    lines = knowledge.lines_for(policy)
    order = Order(0, {"resourceType": "ServiceRequest"}, "")
    for code in policy.codes:
        cases: list[tuple[LineOfBusiness | None, Answer | None]] = [(None, None)]
        cases += [(line, a) for line, det in lines for a in possible_answers(det)]
        for line, answer in cases:
            f = Finding(order, policy, code, True, "Coverage/x", line, "", (), "", lines,
                        answer=answer)
            text = summary(f)
            if len(text) > MAX_SUMMARY:
                problems.append(f"procedure: card summary would be {len(text)} characters "
                                f"(limit {MAX_SUMMARY}): {text!r}")
    return list(dict.fromkeys(problems))


def check_payer_identity(settings: Settings, knowledge: Knowledge) -> None:
    """Accepting every payer's members is for development only (Da Vinci CRD 2.1/2.2 hooks.md:
    a Coverage whose payer this endpoint does not handle SHALL get 400)."""
    if settings.accept_any_payer:
        if not settings.is_development:
            raise ConfigurationError("CDS_ACCEPT_ANY_PAYER=true", [
                "accepting any payer's members is allowed only with "
                "CDS_ENVIRONMENT=development; list the payer's identifiers in the payer file "
                "(identifiers) instead"])
        log.warning("ANY PAYER ACCEPTED (CDS_ACCEPT_ANY_PAYER=true, development): Coverage.payor "
                    "is not checked against the payer file's identifiers.")
    elif not knowledge.payer.identifiers:
        log.warning("The payer file lists no payer identifiers: every Coverage the EHR sends is "
                    "taken as this payer's. List them (identifiers) so that other payers' "
                    "members get 400.")
