"""The Instructions card's shape in every CRD release: what the Inferno CRD suite recognises as
an Instructions card (no links, no suggestions) and validates (required fields, summary < 140,
topic code and system), with the release's card-type system."""

from __future__ import annotations

import itertools

import pytest

from cds_service.crd_versions import ROWS, CrdVersion
from cds_service.respond.instructions import build_instructions_card
from tests.conformance import inferno_suite as suite


@pytest.mark.parametrize("version", ROWS, ids=lambda r: r.name)
def test_an_instructions_card_is_one_in_every_release(version: CrdVersion) -> None:
    ids = itertools.count()
    card = build_instructions_card(
        summary="Prior authorization is required for this order",
        detail="> \u201cSubmit the request before the service is scheduled.\u201d",
        payer="Example Health Plan", source_url="https://payer.example/policies",
        version=version, new_id=lambda: f"id-{next(ids)}",
        orders=["ServiceRequest/sr-1"]).model_dump(by_alias=True, exclude_none=True)
    assert suite.is_instructions(card)
    assert suite.card_errors(card) == []
    assert suite.card_optional_errors(card) == []
    assert card["source"]["topic"]["system"] == version.card_type_system
    assert card["extension"] == {"davinci-crd.associated-resource": [
        {"reference": "ServiceRequest/sr-1"}]}


def test_an_instructions_card_without_text_is_refused() -> None:
    with pytest.raises(ValueError, match="needs its text"):
        build_instructions_card(summary="s", detail=" ", payer="p", source_url="u",
                                version=ROWS[-1], new_id=lambda: "x")
