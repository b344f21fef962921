"""Building blocks of policy files shared by the policy schema and its determinations."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cds_service.fhir.coding import CodeRef


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quote(Strict):
    """The payer's own words: the loader checks they appear verbatim (whitespace aside) in the
    source document, so a card never says what the policy doesn't."""

    quote: str = Field(min_length=1)

    @field_validator("quote")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_space(value)

    def __str__(self) -> str:
        return self.quote


class DiagnosisGroup(Strict):
    any_of: list[CodeRef] = Field(min_length=1)


def groups_matched(groups: list[DiagnosisGroup], reasons: list[tuple[str, str]]) -> bool:
    """Every group is matched by one of the (system, code) reasons (e.g. metastasis AND
    primary)."""
    return all(any(ref.matches(s, c) for ref in g.any_of for s, c in reasons) for g in groups)
