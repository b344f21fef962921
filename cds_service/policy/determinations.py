"""What a policy decides for one line of business, as Da Vinci CRD coded values, each backed by
the payer's words (CRD STU 2.2 ext-coverage-information: ``covered``, ``pa-needed``,
``doc-needed``, ``doc-purpose``, ``info-needed``; invariants q1-q9).

A card's wording is derived from these codes (``cds_service.respond.wording``), never written in
the file, so a card cannot say what its coverage-information record does not; the checks below
refuse a file whose own quotes would contradict its codes.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from cds_service.policy.base import DiagnosisGroup, Quote, Strict, groups_matched

# The subsets of the CRD 2.2 value sets a standing policy rule can state. Left out on purpose:
# ``indeterminate`` (a technical or data limitation, not a policy), ``satisfied`` (needs a prior
# authorization id, q5), doc-needed ``conditional`` (no rule of ours depends on it).
Covered = Literal["covered", "not-covered", "conditional"]
"""CRD coverageInfo: ``conditional`` means covered when the criteria are met."""
NotCoveredAs = Literal["not-covered", "not-medically-necessary", "investigational"]
"""How the document words a non-coverage: CRD has one code for all three (``not-covered``);
the card uses the document's own kind."""
PaNeeded = Literal["auth-needed", "no-auth", "conditional", "performpa"]
DocNeeded = Literal["clinical", "admin", "patient"]
DocPurpose = Literal["withpa", "withclaim", "withorder", "retain-doc"]
InfoNeeded = Literal["performer", "location", "timeframe", "contract-window", "detail-code", "OTH"]
Require = Literal["all", "any"]

NOT_COVERED_PHRASES: dict[str, str] = {
    "not-covered": "not covered",
    "not-medically-necessary": "not medically necessary",
    "investigational": "investigational",
}
"""The words each kind of non-coverage must use in its statement (and the card uses)."""


NO_PA_WORDS = ("not required", "not needed", "no prior authorization", "does not require")
"""One of these says prior authorization is not needed; a ``no-auth`` quote must use one, an
``auth-needed`` or ``performpa`` quote none (``conditional`` quotes may say both)."""


def _pa_wording(pa: PriorAuthorization) -> list[str]:
    says_none = [w for w in NO_PA_WORDS if w in pa.quote.lower()]
    if pa.needed == "no-auth" and not says_none:
        return ["prior_authorization: needed no-auth, but the quote says none of "
                + ", ".join(repr(w) for w in NO_PA_WORDS)]
    if pa.needed in ("auth-needed", "performpa") and says_none:
        return [f"prior_authorization: needed {pa.needed}, but the quote says {says_none[0]!r}"]
    return []


def accepted(kind: Any) -> str:
    """The accepted values of a coded field, for error messages."""
    return ", ".join(get_args(kind))


class Criterion(Quote):
    """One criterion, quoted; ``diagnoses`` says how a request proves it (every group matched by
    one of the order's reasons). A criterion without ``diagnoses`` is never taken as proven."""

    diagnoses: list[DiagnosisGroup] = Field(default_factory=list)

    def proven_by(self, reasons: list[tuple[str, str]]) -> bool:
        return bool(self.diagnoses) and groups_matched(self.diagnoses, reasons)


class Criteria(Strict):
    require: Require
    """``all``: every criterion must be met; ``any``: one is enough."""
    items: list[Criterion] = Field(min_length=1)


class PriorAuthorization(Quote):
    needed: PaNeeded


class Documentation(Quote):
    needed: DocNeeded
    purpose: DocPurpose


class Information(Quote):
    needed: InfoNeeded


class Determination(Strict):
    heading: str = Field(min_length=1)
    covered: Covered
    not_covered_as: NotCoveredAs | None = None
    """Only with ``covered: not-covered``; default ``not-covered``."""
    statement: Quote
    criteria: Criteria | None = None
    """Required with ``covered: conditional``: the service says ``covered`` only when the
    request proves them, ``conditional`` otherwise."""
    prior_authorization: PriorAuthorization | None = None
    documentation: list[Documentation] = Field(default_factory=list)
    information: list[Information] = Field(default_factory=list)
    """What the payer needs that an order lacks; sent (CRD info-needed) whenever the answer is
    conditional."""

    @model_validator(mode="before")
    @classmethod
    def _no_phrase(cls, data: Any) -> Any:
        if isinstance(data, dict) and "phrase" in data:
            raise ValueError("phrase: no longer written in the file; the card's words come from "
                             "covered (and not_covered_as: "
                             f"{accepted(NotCoveredAs)})")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Determination:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """Why these codes could contradict each other, CRD's invariants or their own quotes."""
        out: list[str] = []
        statement = self.statement.quote.lower()
        pa = self.prior_authorization
        if self.covered == "not-covered":
            kind = self.not_covered_as or "not-covered"
            if NOT_COVERED_PHRASES[kind] not in statement:
                out.append(f"statement: with not_covered_as {kind} (accepted: "
                           f"{accepted(NotCoveredAs)}) the statement must say "
                           f"{NOT_COVERED_PHRASES[kind]!r}; it does not")
            if pa or self.documentation or self.information or self.criteria:
                # q2: no pa-needed on not-covered; nothing else would change the answer.
                out.append("covered not-covered takes no prior_authorization, documentation, "
                           "information or criteria (CRD q2: nothing would change the answer)")
        else:
            if self.not_covered_as is not None:
                out.append(f"not_covered_as: only with covered: not-covered (here {self.covered})")
            said = [p for p in NOT_COVERED_PHRASES.values() if p in statement]
            if said:
                out.append(f"statement: says {said[0]!r}, which contradicts covered: "
                           f"{self.covered}")
        if (self.covered == "conditional") != (self.criteria is not None):
            out.append("criteria: required with covered: conditional, and only there")
        if pa is not None and pa.needed == "conditional" and not self.information:
            out.append("information: prior_authorization needed conditional needs what it "
                       "depends on (CRD q3: info-needed)")
        if self.information and not (self.covered == "conditional" or (
                pa is not None and pa.needed == "conditional")):
            out.append("information: only sent when coverage or prior authorization is "
                       "conditional (CRD q3)")
        if pa is not None:
            out += _pa_wording(pa)
        withpa = any(d.purpose == "withpa" for d in self.documentation)
        if withpa and (pa is None or pa.needed == "no-auth"):
            out.append("documentation: purpose withpa needs prior_authorization auth-needed, "
                       "performpa or conditional (CRD q4)")
        return out

    @property
    def not_covered_kind(self) -> NotCoveredAs | None:
        if self.covered != "not-covered":
            return None
        return self.not_covered_as or "not-covered"

    def quotes(self) -> dict[str, Quote]:
        """Every quoted field by its path below the determination."""
        found: dict[str, Quote] = {"statement": self.statement}
        for i, c in enumerate(self.criteria.items if self.criteria else []):
            found[f"criteria.items[{i}]"] = c
        if self.prior_authorization is not None:
            found["prior_authorization"] = self.prior_authorization
        for i, d in enumerate(self.documentation):
            found[f"documentation[{i}]"] = d
        for i, n in enumerate(self.information):
            found[f"information[{i}]"] = n
        return found
