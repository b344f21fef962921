"""Schema of a policy file (YAML). See docs/policies.md for how to write one.

Fields holding the payer's own words are ``Quote`` objects: the loader checks each appears
verbatim (whitespace aside) in the source document, so a card never says what the policy doesn't.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_service.fhir.coding import check_known_system, listed
from cds_service.policy.base import DiagnosisGroup, Quote, groups_matched, normalise_space
from cds_service.policy.determinations import Determination

__all__ = [
    "CardTopic",
    "Determination",
    "DiagnosisGroup",
    "Indication",
    "Policy",
    "ProcedureCode",
    "Quote",
    "Source",
    "normalise_space",
]

# Da Vinci CRD card types (http://terminology.hl7.org/CodeSystem/cdshooks-card-type).
CardTopic = Literal[
    "appropriate-use", "claim", "clinical-reminder", "contraindication", "cost", "coverage-info",
    "duplicate-therapy", "guideline", "insurance", "limits", "network", "off-guideline",
    "therapy-alternatives-opt", "therapy-alternatives-req",
]
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    document: str | None = None
    """File name of the payer's document, beside the policy file; enables the quote check."""
    url: AnyHttpUrl | None = None
    """Where the payer publishes the policy; when unset we serve it at /policies/{id}."""
    updates: list[str] = []


class ProcedureCode(_Strict):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)
    approach: str | None = None

    _known = field_validator("system")(check_known_system)


class Indication(_Strict):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    diagnoses: list[DiagnosisGroup] = Field(min_length=1)
    """Every group must be matched by one of the order's reasons (e.g. metastasis AND primary)."""
    population: Quote
    evidence: Quote
    conclusion: Quote | None = None
    """The evidence's concluding sentence, part of ``evidence``: what the card quotes (the whole
    summary is one click away on the policy page)."""

    @model_validator(mode="after")
    def _conclusion_in_evidence(self) -> Indication:
        if self.conclusion is not None and self.conclusion.quote not in self.evidence.quote:
            raise ValueError("conclusion does not occur in evidence")
        return self

    def names_any(self, pairs: tuple[tuple[str, str], ...]) -> bool:
        """Whether any of the (system, code) pairs is one of this indication's diagnoses."""
        return any(ref.matches(s, c) for g in self.diagnoses for ref in g.any_of for s, c in pairs)


class Policy(_Strict):
    schema_: Literal[1] = Field(alias="schema")
    id: str = Field(pattern=SLUG)
    version: str = Field(min_length=1)
    effective: date | None = None
    """The first date of service this version decides (a file may hold several versions, one
    YAML document each); unset: in force from the start."""
    title: str = Field(min_length=1)
    procedure: str = Field(min_length=1)
    payer: str = Field(min_length=1)
    card_topic: CardTopic
    source: Source = Source()
    overview: Quote | None = None
    medical_criteria: Quote | None = None
    prior_authorization: Quote | None = None
    codes: list[ProcedureCode] = Field(min_length=1)
    determinations: dict[str, Determination] = Field(min_length=1)
    coverage_note: Quote | None = None
    indications: list[Indication] = []
    evidence_conclusion: Quote | None = None
    member_liability: Quote | None = None
    disclaimer: Quote | None = None

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "override_reasons" in data:
            raise ValueError("override_reasons: now per line of business in the payer file "
                             "(lines_of_business[].override_reasons)")
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        for what, ids in (
            ("codes", [(c.system, c.code) for c in self.codes]),
            ("indications", [i.id for i in self.indications]),
        ):
            if len(ids) != len(set(ids)):
                raise ValueError(f"{what} has duplicate entries")
        return self

    def quotes(self) -> dict[str, Quote]:
        """Every quoted field by its path in the file, for the verbatim check."""
        found: dict[str, Quote] = {}
        for name in ("overview", "medical_criteria", "prior_authorization", "coverage_note",
                     "evidence_conclusion", "member_liability", "disclaimer"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        for lob, det in self.determinations.items():
            found.update({f"determinations.{lob}.{path}": q for path, q in det.quotes().items()})
        for i, ind in enumerate(self.indications):
            found[f"indications[{i}].population"] = ind.population
            found[f"indications[{i}].evidence"] = ind.evidence
            if ind.conclusion is not None:
                found[f"indications[{i}].conclusion"] = ind.conclusion
        return found

    def code(self, wanted: tuple[str, str]) -> ProcedureCode | None:
        """The code listed as ``wanted``, a (system, code) in the table's form
        (``coding.canonical``)."""
        return next((c for c in self.codes if listed(c.system, c.code) == wanted), None)

    def indications_for(self, reasons: list[tuple[str, str]]) -> list[Indication]:
        """Indications whose every diagnosis group is matched by one of the reason codes."""
        return [ind for ind in self.indications if groups_matched(ind.diagnoses, reasons)]
