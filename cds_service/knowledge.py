"""What the service knows: the policies and the payer file, loaded and checked against each other.

Loaded at start-up and again on each reload (``reload.py``); any inconsistency is a
``ConfigurationError`` naming the file and field.

One service answers for one payer, the payer file's: a policy of ``CDS_POLICY_DIR`` whose
``payer`` is another is refused (its wording would reach this payer's members under another
payer's name). The bundled policies are the bundled payer's (BCBSRI): with a payer file of another
payer they are not used, with one log line, rather than refusing start-up, because they cannot be
switched off and such a deployment is expected (the example policies run so:
``CDS_PAYER_FILE=fhir_examples/payer.yaml``).
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
from cds_service.policy.loader import PolicySet, build_policy_set, is_bundled, load_policies
from cds_service.policy.models import Determination, Policy, normalise_space
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
    payer = load_payer(payer_file)
    knowledge = Knowledge(_of_payer(load_policies(policy_dir), payer.name), payer)
    for lp in knowledge.policies.all():
        problems = _cross_check(knowledge, lp.policy)
        if problems:
            raise ConfigurationError(str(lp.path), problems)
    return knowledge


def payer_mismatch(policy_payer: str, payer_name: str) -> str | None:
    """The problem with a policy of ``policy_payer`` served for the payer file's ``payer_name``,
    or None when they are the same payer. Names compare exactly, spacing aside (a YAML file may
    fold a long name over lines): the policy names its payer by nothing else, and the name is the
    source a card cites, so a near miss is an operator's typo to fix, not the same payer."""
    if normalise_space(policy_payer) == normalise_space(payer_name):
        return None
    return (f"payer: {policy_payer!r} is not the payer file's payer ({payer_name!r}, "
            "CDS_PAYER_FILE); a service answers for one payer: use its own policies, or the "
            f"payer file of {policy_payer!r}")


def _of_payer(policies: PolicySet, payer_name: str) -> PolicySet:
    """The policies of the payer file's payer; bundled ones of another payer left out."""
    skipped: list[str] = []
    for policy_id, versions in policies.versions.items():
        for lp in versions:
            problem = payer_mismatch(lp.policy.payer, payer_name)
            if problem is None:
                continue
            if not is_bundled(lp):
                raise ConfigurationError(str(lp.path), [problem])
            if policy_id not in skipped:
                skipped.append(policy_id)
    if not skipped:
        return policies
    log.info("bundled policies of another payer than the payer file's (%s) not used: %s",
             payer_name, ", ".join(skipped))
    return build_policy_set(v for pid, v in policies.versions.items() if pid not in skipped)


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
