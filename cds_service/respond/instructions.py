"""The Instructions card (Da Vinci CRD cards.md "Instructions" response type): text that tells
the clinician what to do, with no links and no suggestions. CRD 2.0.1 and 2.1 servers SHALL
demonstrate it (2.2: SHOULD); the Inferno CRD suite recognises it by exactly that shape
(cards_identification.rb ``instructions_response_type?``). Its content is the policy's own words,
passed in by whoever has them (a determination with instructions: prior authorization or
documentation needed); the shape and the version's card-type system are decided here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cds_service.crd_versions import CrdVersion
from cds_service.hooks.response import Card, Coding, Source
from cds_service.respond.cards import ASSOCIATED_RESOURCE, CARD_TYPE_DISPLAYS

TOPIC = "coverage-info"
"""CRD card type for what coverage requires (CRD Card Types, 2.0.1 temp and 2.2 THO)."""


def build_instructions_card(*, summary: str, detail: str, payer: str, source_url: str,
                            version: CrdVersion, new_id: Callable[[], str],
                            orders: Sequence[str] = ()) -> Card:
    """``detail`` is Markdown (required: an Instructions card is its text); ``orders`` are the
    ``Type/id`` of the orders it is about (CRD §dev-25 associated-resource)."""
    if not detail.strip():
        raise ValueError("an Instructions card needs its text (detail)")
    return Card(
        uuid=new_id(),
        summary=summary,
        indicator="info",  # CRD cards.md: most coverage requirements SHOULD be info
        detail=detail,
        source=Source(label=payer, url=source_url,
                      topic=Coding(system=version.card_type_system, code=TOPIC,
                                   display=CARD_TYPE_DISPLAYS.get(TOPIC))),
        extension={ASSOCIATED_RESOURCE: [{"reference": r} for r in orders]} if orders else None,
    )
