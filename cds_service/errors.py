"""One exception tree, turned into FHIR OperationOutcome responses in one place (``api/errors``).

    ServiceError                 anything we answer with a non-2xx status
    ├── BadRequest               400  bad JSON, missing/invalid fields, wrong hook, wrong payer
    ├── Unauthorized             401  any authentication failure (body generic; reason
    │                                 category in WWW-Authenticate, details in the log)
    ├── NotFound                 404  unknown service or resource
    ├── RequestTimeout           408  the request body did not arrive in time
    ├── PreconditionFailed       412  required data neither prefetched nor obtainable
    ├── PayloadTooLarge          413  body over the configured limit
    └── ServiceUnavailable       503  the records database cannot take the call's record in time
                                      (outage, disk full, read-only, timeout); with Retry-After
    ConfigurationError           bad policy, payer or trust file: stops start-up, never reaches HTTP

CDS Hooks 3.0 (§Returning OperationOutcome) and Da Vinci CRD 2.2 (§hook-10) ask for an
OperationOutcome with every error; 2.0 defines no error body, so we use the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: ``code`` is from the FHIR IssueType value set."""

    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


class ServiceError(Exception):
    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"

    def __init__(self, diagnostics: str, *, expression: str | None = None,
                 issues: list[Issue] | None = None) -> None:
        super().__init__(diagnostics)
        self.issues = issues or [
            Issue(self.issue_code, diagnostics, (expression,) if expression else ())
        ]

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with the answer."""
        return {}


class BadRequest(ServiceError):
    status = 400
    issue_code = "invalid"

    @classmethod
    def from_validation(cls, error: ValidationError, what: str, *, root: str = "",
                        fhir: bool = False) -> BadRequest:
        """One issue per pydantic error, located by its JSON path in the body (under ``root``)
        and said in our words (``plain_message``), never the library's."""
        issues = []
        for err in error.errors():
            where = json_path(err["loc"], root) or "(body)"
            required = err["type"] in ("missing", "model_field_validation.missing")
            issues.append(Issue("required" if required else "invalid",
                                f"{where}: {plain_message(err, fhir=fhir)}", (where,)))
        return cls(what, issues=issues)


class Unauthorized(ServiceError):
    """The reason goes to the log only; the caller gets a generic answer (CDS Hooks best
    practice)."""

    status = 401
    issue_code = "login"

    CATEGORIES = frozenset({"missing", "malformed", "algorithm", "issuer", "key", "signature",
                            "audience", "expired", "not-yet-valid", "lifetime", "replay",
                            "claims", "operator", "other"})

    def __init__(self, reason: str, category: str = "other", *,
                 log_fields: Mapping[str, object] | None = None) -> None:
        super().__init__("Authentication failed.")
        self.reason = reason
        # A bounded label for the rejection metric and the WWW-Authenticate error_description
        # (RFC 6750 §3); the free-text reason goes to the log only.
        self.category = category if category in self.CATEGORIES else "other"
        self.log_fields = dict(log_fields or {})
        """Structured diagnostics for the refusal's log line (e.g. expected and received aud)."""


class NotFound(ServiceError):
    status = 404
    issue_code = "not-found"


class RequestTimeout(ServiceError):
    status = 408
    issue_code = "timeout"


class PreconditionFailed(ServiceError):
    status = 412
    issue_code = "processing"


class PayloadTooLarge(ServiceError):
    status = 413
    issue_code = "too-costly"


class ServiceUnavailable(ServiceError):
    """Nothing wrong with the call: we cannot keep its record now (CRD §found-37 asks for one),
    so it is not answered; the caller may send it again after ``retry_after`` seconds."""

    status = 503
    issue_code = "no-store"  # FHIR IssueType: "the persistent store is unavailable"

    def __init__(self, diagnostics: str, *, retry_after: int = 5) -> None:
        super().__init__(diagnostics)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass
class ConfigurationError(Exception):
    """A configuration file is unusable; names the file and the field so an operator can fix it."""

    source: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"{self.source}:\n{lines}"


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def json_path(loc: tuple[int | str, ...], root: str = "") -> str:
    """``context.draftOrders.entry[0].resource``: array positions in brackets, as FHIRPath and
    JSONPath write them."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


# What each kind of validation error means, in our words (pydantic and fhir.resources phrase them
# for programmers: "Input should be a valid string", "Extra inputs are not permitted").
_PLAIN = {
    "missing": "is required",
    "model_field_validation.missing": "is required",
    "extra_forbidden": "is not an element accepted here",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
    "string_pattern_mismatch": "does not have the format this element requires",
    "too_short": "must not be empty",
    "too_long": "has too many items",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be an array",
    "tuple_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "json_invalid": "must be an object",
    "literal_error": "is not one of the values allowed here",
    "enum": "is not one of the values allowed here",
    "url_type": "must be a URL",
    "url_parsing": "must be a URL",
    "url_scheme": "must be an http or https URL",
    "url_too_long": "is too long",
    "date_type": "must be a date",
    "date_parsing": "must be a date",
    "date_from_datetime_parsing": "must be a date",
    "datetime_type": "must be a date and time",
    "datetime_parsing": "must be a date and time",
    "datetime_from_date_parsing": "must be a date and time",
    "greater_than": "is out of range",
    "greater_than_equal": "is out of range",
    "less_than": "is out of range",
    "less_than_equal": "is out of range",
    "model_validation_format": "is not valid FHIR here",
}
# fhir.resources reports bad FHIR primitive values as value errors; these name the type.
_FHIR_VALUES = (
    ("DateTime", "must be a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or a date with time and "
                 "time zone)"),
    ("Date", "must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)"),
    ("Instant", "must be a FHIR instant (a date with time and time zone)"),
    ("Decimal", "must be a number"),
    ("Integer", "must be a whole number"),
)


def plain_message(err: ErrorDetails, *, fhir: bool = False) -> str:
    """The error in words a caller can act on. Our own validators' messages (``value_error`` raised
    in this package) are already such words; inside FHIR resources they come from fhir.resources
    and are replaced."""
    kind = err["type"]
    if kind in ("value_error", "assertion_error"):
        if fhir:
            message = str(err.get("msg", ""))
            return next((plain for marker, plain in _FHIR_VALUES if marker in message),
                        "is not a valid value for this element")
        error = (err.get("ctx") or {}).get("error")
        return str(error) if error else "is not valid"
    return _PLAIN.get(kind, "is not valid here")
