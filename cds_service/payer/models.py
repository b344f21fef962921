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


class PayerConfig(_Strict):
    schema_: Literal[1] = Field(alias="schema")
    name: str = Field(min_length=1)
    identifiers: list[Identifier] = []
    lines_of_business: list[LineOfBusiness] = Field(min_length=1)

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
