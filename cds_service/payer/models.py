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


class LineOfBusiness(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str = Field(min_length=1)
    coverage_type: list[CodeRef] = []
    coverage_class: list[ClassRule] = []


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
        return self

    def line(self, lob_id: str) -> LineOfBusiness | None:
        return next((lob for lob in self.lines_of_business if lob.id == lob_id), None)


def load_payer(path: Path | None = None) -> PayerConfig:
    return load_model(PayerConfig, path or BUNDLED_PAYER_FILE)
