"""One exception tree, turned into FHIR OperationOutcome responses in one place (``api/errors``).

    ServiceError                 anything we answer with a non-2xx status
    ├── BadRequest               400  bad JSON, missing/invalid fields, wrong hook, wrong payer
    ├── Unauthorized             401  any authentication failure (body stays generic)
    ├── NotFound                 404  unknown service or resource
    ├── RequestTimeout           408  the request body did not arrive in time
    ├── PreconditionFailed       412  required data neither prefetched nor obtainable
    └── PayloadTooLarge          413  body over the configured limit
    ConfigurationError           bad policy, payer or trust file: stops start-up, never reaches HTTP

CDS Hooks 3.0 (§Returning OperationOutcome) and Da Vinci CRD 2.2 (§hook-10) ask for an
OperationOutcome with every error; 2.0 defines no error body, so we use the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ValidationError


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


class BadRequest(ServiceError):
    status = 400
    issue_code = "invalid"

    @classmethod
    def from_validation(cls, error: ValidationError, what: str, *,
                        root: str = "") -> BadRequest:
        """One issue per pydantic error, located by its path in the body (under ``root``)."""
        issues = []
        for err in error.errors():
            where = ".".join([root, *map(str, err["loc"])] if root else map(str, err["loc"]))
            where = where or "(body)"
            issues.append(Issue("required" if err["type"] == "missing" else "invalid",
                                f"{where}: {err['msg']}", (where,)))
        return cls(what, issues=issues)


class Unauthorized(ServiceError):
    """The reason goes to the log only; the caller gets a generic answer (CDS Hooks best
    practice)."""

    status = 401
    issue_code = "login"

    CATEGORIES = frozenset({"missing", "malformed", "algorithm", "issuer", "key", "signature",
                            "audience", "expired", "not-yet-valid", "lifetime", "replay",
                            "claims", "other"})

    def __init__(self, reason: str, category: str = "other") -> None:
        super().__init__("Authentication failed.")
        self.reason = reason
        # A bounded label for the rejection metric; the free-text reason goes to the log only.
        self.category = category if category in self.CATEGORIES else "other"


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
