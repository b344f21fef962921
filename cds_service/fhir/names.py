"""Element names we know, so a log line can say where a problem is without repeating a name the
caller invented (an unknown element can be named anything, a patient's name included).

The known names are those of our request and feedback models and the R4B elements of the
resources and data types a decision reads; a path is logged up to its first other segment.
"""

from __future__ import annotations

import functools
import re

from fhir.resources.R4B import get_fhir_model_class

_OURS = frozenset({
    "(request)", "(body)", "hook", "hookInstance", "fhirServer", "fhirAuthorization",
    "access_token", "token_type", "expires_in", "scope", "subject", "patient", "context",
    "userId", "patientId", "encounterId", "draftOrders", "selections", "prefetch", "coverage",
    "extension", "feedback", "card", "outcome", "outcomeTimestamp", "acceptedSuggestions",
    "overrideReason", "reason", "userComment", "Coverage", "ServiceRequest",
})
_FHIR_TYPES = ("ServiceRequest", "Coverage", "CoverageClass", "Condition", "Patient",
               "Organization", "Bundle", "BundleEntry", "Reference", "CodeableConcept", "Coding",
               "Identifier", "Period", "Extension", "Meta", "Narrative", "Quantity", "Annotation")
_SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)(\[\d+\])*")


@functools.cache
def known_names() -> frozenset[str]:
    names = set(_OURS)
    for type_name in _FHIR_TYPES:
        model = get_fhir_model_class(type_name)
        names.update(field.alias or name for name, field in model.model_fields.items())
    return frozenset(names)


@functools.lru_cache(maxsize=1024)  # bounded: the names come from callers
def loggable_type(name: str) -> str:
    """``name`` when it is a FHIR R4 type, else ``other`` (a reference's type is the caller's)."""
    try:
        get_fhir_model_class(name)
    except (KeyError, ValueError):
        return "other"
    return name


def loggable_path(expression: str) -> str:
    """``expression`` up to its first segment that is neither a known name nor an index; ``…``
    marks where it was cut."""
    kept = []
    for segment in expression.split("."):
        match = _SEGMENT.fullmatch(segment)
        name = match.group("name") if match else None
        if name is None or not (name.isdigit() or name in known_names()):
            kept.append("…")
            break
        kept.append(segment)
    return ".".join(kept)
