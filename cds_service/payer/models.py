"""Schema of the payer file (identity and line-of-business mapping)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds_service.datafiles import load_model
from cds_service.fhir.coding import CodeRef

BUNDLED_PAYER_FILE = Path(__file__).with_name("payer.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identifier(_Strict):
    system: str = Field(min_length=1)
    value: str = Field(min_length=1)


class ClassRule(_Strict):
    """Matches Coverage.class[type=<type>].value (http://terminology.hl7.org/CodeSystem/coverage-class)."""

    type: str = Field(min_length=1)
    value: str = Field(min_length=1)


class OverrideReason(_Strict):
    """A reason a clinician keeping the order may give (CDS Hooks 2.0 §Card ``overrideReasons``;
    listed at /CodeSystem/override-reason)."""

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]*$")
    display: str = Field(min_length=1)
    source: str = Field(min_length=1)
    """What makes the reason fit this plan type (a regulation, the payer's own document): for
    the reviewer of the payer file; not sent."""


class LineOfBusiness(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str = Field(min_length=1)
    coverage_type: list[CodeRef] = []
    coverage_class: list[ClassRule] = []
    override_reasons: list[OverrideReason] = []
    """Offered on the cards for this plan type's members (what fits one plan type may be
    wrong for another: Medicare Advantage allows no written member waiver)."""
    quote_member_liability: bool = True
    """Whether this plan type's cards quote a policy's ``member_liability`` statement; false
    where the plan type's own rules decide when a member may be charged (Medicare Advantage: only
    after a pre-service organization determination denies the service, whatever a waiver the
    statement speaks of)."""


class Assertion(_Strict):
    """What the payer asserts on an order in Da Vinci CRD coverage information (STU 2.2 value
    sets coverageInfo, coveragePaDetail, informationNeeded). ``satisfied`` is not offered: it
    needs a prior authorization id (invariant q5), which a standing rule cannot have."""

    covered: Literal["covered", "not-covered", "conditional", "indeterminate"]
    pa_needed: Literal["no-auth", "auth-needed", "performpa", "conditional",
                       "indeterminate"] | None = None
    info_needed: list[Literal["performer", "location", "timeframe", "contract-window",
                              "detail-code", "OTH"]] = []
    reason: str | None = Field(default=None, min_length=1)
    """Sent as the assertion's ``reason`` text (no CRD reason code fits a payer's rule)."""

    @model_validator(mode="after")
    def _invariants(self) -> Assertion:
        # ext-coverage-information invariants (CRD 2.2 CoverageInformation.fsh).
        if self.covered == "not-covered" and self.pa_needed is not None:
            raise ValueError("q2: a not-covered assertion cannot have pa_needed")
        if "conditional" in (self.covered, self.pa_needed) and not self.info_needed:
            raise ValueError("q3: a conditional assertion needs info_needed")
        if {"OTH", "detail-code"} & set(self.info_needed) and self.reason is None:
            # detail-code is 2.2 only: 2.1 clients get OTH in its place, which q6 ties to a reason.
            raise ValueError("q6: info_needed OTH (or detail-code) needs a reason")
        if "indeterminate" in (self.covered, self.pa_needed) and self.reason is None:
            raise ValueError("q9: an indeterminate assertion needs a reason")
        return self


class PayerConfig(_Strict):
    schema_: Literal[1] = Field(alias="schema")
    name: str = Field(min_length=1)
    identifiers: list[Identifier] = []
    lines_of_business: list[LineOfBusiness] = Field(min_length=1)
    unmatched_orders: Assertion
    """Coverage information for an order of a primary hook that no policy matches."""
    unknown_plan_reason: str = Field(min_length=1)
    """Reason text of the ``indeterminate`` assertion on a matched order when the member's
    line of business cannot be told from the Coverage."""
    undecided_plan_reason: str = Field(min_length=1)
    """Reason of the ``indeterminate`` assertion on an order a policy matches that states no
    determination for the member's line of business (no card is shown then)."""
    unreadable_order_reason: str = Field(min_length=1)
    """Reason of the ``indeterminate`` assertion on an order whose product or request could not
    be read (a MedicationRequest's Medication, the request an Appointment is booked for)."""
    member_without_coverage: Literal["error", "card"] = "error"
    """No active Coverage: 400 (Da Vinci CRD 2.2 hooks.md, error handling), or the older
    informational card with what the policy says for every line of business."""

    @model_validator(mode="after")
    def _unique(self) -> PayerConfig:
        ids = [lob.id for lob in self.lines_of_business]
        if len(ids) != len(set(ids)):
            raise ValueError("lines_of_business has duplicate ids")
        displays: dict[str, str] = {}
        for lob in self.lines_of_business:
            codes = [r.code for r in lob.override_reasons]
            if len(codes) != len(set(codes)):
                raise ValueError(f"lines_of_business {lob.id}: override_reasons has a code twice")
            for r in lob.override_reasons:
                # One code system lists them all: a code means one thing on every card.
                if displays.setdefault(r.code, r.display) != r.display:
                    raise ValueError(f"lines_of_business {lob.id}: override reason {r.code} has "
                                     "another display on another line of business")
        return self

    def override_reasons(self) -> dict[str, str]:
        """Every override reason code with its display, over all lines of business."""
        return {r.code: r.display for lob in self.lines_of_business for r in lob.override_reasons}

    def line(self, lob_id: str) -> LineOfBusiness | None:
        return next((lob for lob in self.lines_of_business if lob.id == lob_id), None)


def load_payer(path: Path | None = None) -> PayerConfig:
    return load_model(PayerConfig, path or BUNDLED_PAYER_FILE)
