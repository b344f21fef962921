"""Why an order was placed, as the order says it: ``reasonCode`` and ``reasonReference`` (pure).

FHIR R4 ServiceRequest: "reasonCode: Explanation/Justification for procedure or service" and
"reasonReference: Explanation/Justification for service or service" (a Condition, Observation,
DiagnosticReport or DocumentReference). Both count the same for matching a policy's indications;
each reason keeps the words the EHR used for it, so a card can quote them rather than claim the
order gave none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cds_service.fhir.coding import canonical_system, elements, system_label

MAX_LABEL = 120
"""Characters of an EHR's reason text shown on a card; longer text is cut with an ellipsis."""


@dataclass(frozen=True)
class Reason:
    label: str
    """The EHR's words for the reason: its text, else the first coding's display, else the code."""
    codings: tuple[tuple[str, str], ...]
    """(canonical system, code) pairs, for matching."""


def order_reasons(resource: dict[str, Any],
                  referenced: Sequence[tuple[Any, dict[str, Any] | None]]) -> list[Reason]:
    """The order's reasons: each ``reasonCode`` concept, then each ``reasonReference`` with the
    resource it resolved to (or None when it could not be read)."""
    found = [r for concept in elements(resource.get("reasonCode"))
             if (r := reason_of(concept)) is not None]
    for reference, target in referenced:
        reason = reason_of(target.get("code")) if isinstance(target, dict) else None
        if reason is None and isinstance(reference, dict):
            # Unreadable, or naming no code: still a reason the order gives, known by the
            # reference's display or the reference itself.
            label = _text(reference.get("display")) or _text(reference.get("reference"))
            if label:
                reason = Reason(_cut(label), ())
        if reason is not None:
            found.append(reason)
    return found


def reason_of(concept: Any) -> Reason | None:
    """A CodeableConcept as a reason; None when it names nothing (no text, no usable coding)."""
    if not isinstance(concept, dict):
        return None
    pairs: list[tuple[str, str]] = []
    display = code_label = None
    for coding in elements(concept.get("coding")):
        if not isinstance(coding, dict):
            continue
        system, code = _text(coding.get("system")), _text(coding.get("code"))
        display = display or _text(coding.get("display"))
        if code and code_label is None:
            code_label = f"{system_label(system) or system} {code}" if system else code
        if system and code:
            pairs.append((canonical_system(system), code))
    label = _text(concept.get("text")) or display or code_label
    if label is None:
        return None
    return Reason(_cut(label), tuple(dict.fromkeys(pairs)))


def codings_of(reasons: Iterable[Reason]) -> list[tuple[str, str]]:
    return [pair for reason in reasons for pair in reason.codings]


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = re.sub(r"\s+", " ", value).strip()
    return value or None


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1].rstrip() + "\u2026"
