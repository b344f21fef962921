"""What the decision found for one draft order: the input of every response builder."""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.fhir.coding import system_label
from cds_service.fhir.orders import Order
from cds_service.fhir.reasons import Reason
from cds_service.payer.models import LineOfBusiness, OverrideReason
from cds_service.policy.answer import Answer
from cds_service.policy.models import Determination, Indication, Policy, ProcedureCode


@dataclass(frozen=True)
class Finding:
    order: Order
    policy: Policy
    code: ProcedureCode
    coverage_found: bool
    """The member has an active coverage with this payer."""
    coverage_reference: str | None
    """``Coverage/<id>`` of that coverage, when it has an id."""
    line: LineOfBusiness | None
    """Known only when the coverage maps to a line of business the policy decides for."""
    line_basis: str
    indications: tuple[Indication, ...]
    policy_url: str
    policy_lines: tuple[tuple[LineOfBusiness, Determination], ...]
    """Every line of business the policy decides for, in the payer file's order."""
    member_line: LineOfBusiness | None = None
    """The member's line of business when the coverage maps to one the policy does not decide
    for (``line`` is then None)."""
    removable: tuple[str, str] | None = None
    """(reference, "Order" or "Appointment") of the draft the clinician may drop instead, when
    the hook is about drafts (order-select, order-sign, appointment-book)."""
    reasons: tuple[Reason, ...] = ()
    """The order's reasons (reasonCode and reasonReference), with the EHR's words for each."""
    ignored_elements: tuple[str, ...] = ()
    """Elements R4 does not define in the other resources read for this order (Coverage, a
    reason's Condition): paths only, for the decision record."""
    answer: Answer | None = None
    """This policy's answer for the member's line (``determination`` applied to the order's
    reasons); None when the policy decides nothing for the member."""

    @property
    def undecided(self) -> bool:
        """The member's plan type is known and the policy decides nothing for it: no card (it
        could only cite the policy's wording for other plan types)."""
        return self.line is None and self.member_line is not None

    @property
    def override_reasons(self) -> tuple[OverrideReason, ...]:
        """What fits the member's plan type (the payer file's line of business)."""
        return tuple(self.line.override_reasons) if self.line else ()

    @property
    def quotes_member_liability(self) -> bool:
        """Whether the card may quote the policy's member liability statement: not for a plan
        type whose own rules decide that, nor for a member whose plan type is unknown and might
        be one."""
        lines = [self.line] if self.line else [line for line, _ in self.policy_lines]
        return all(line.quote_member_liability for line in lines)

    @property
    def determination(self) -> Determination | None:
        return self.policy.determinations.get(self.line.id) if self.line else None

    @property
    def code_label(self) -> str:
        label = system_label(self.code.system)
        return f"{label} {self.code.code}" if label else self.code.code
