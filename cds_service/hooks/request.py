"""The hook request as it arrives (CDS Hooks 2.0 §Calling a CDS Service, order-select/order-sign).

Lenient where real clients differ from the spec text (Bundle without ``type``, entries without
``fullUrl``, unknown fields and ``extension`` everywhere), strict where our answer depends on it.
FHIR resources stay plain dicts here: only the orders a policy matches are validated as R4B models.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_NONEMPTY = Field(min_length=1, max_length=512)


class _Lenient(BaseModel):
    # Unknown elements SHALL be ignored (Da Vinci CRD 2.2 §found-33, §hook-23).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class FhirAuthorization(_Lenient):
    """CDS Hooks 2.0 §Passing the Access Token; the token is a secret and never printed."""

    access_token: SecretStr = Field(min_length=1)
    token_type: str = "Bearer"
    # Clients have been seen to omit expires_in (cds-hooks/sandbox#65): optional here.
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


def _check_bundle(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("resourceType") != "Bundle":
        raise ValueError("must be a FHIR Bundle (resourceType 'Bundle')")
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        raise ValueError("entry must be an array")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"entry[{i}] must be an object")
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ValueError(f"entry[{i}].resource must be a FHIR resource with a resourceType")
    return value


class PatientContext(_Lenient):
    """Context every CRD hook carries (hooks library 1.0)."""

    patient_id: str = Field(alias="patientId", min_length=1, max_length=512)
    encounter_id: str | None = Field(default=None, alias="encounterId", max_length=512)


class OrderSignContext(PatientContext):
    user_id: str = Field(alias="userId", min_length=1, max_length=512)
    draft_orders: dict[str, Any] = Field(alias="draftOrders")

    _bundle = field_validator("draft_orders")(_check_bundle)

    def entries(self) -> list[dict[str, Any]]:
        return list(self.draft_orders.get("entry", []))


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _selections_in_draft_orders(self) -> OrderSelectContext:
        present = {
            f"{e['resource']['resourceType']}/{e['resource'].get('id')}" for e in self.entries()
        }
        missing = [s for s in self.selections if s not in present]
        if missing:
            raise ValueError(f"selections not found in draftOrders: {', '.join(missing)}")
        return self


class AppointmentBookContext(PatientContext):
    """appointment-book 1.0: the proposed Appointments as a Bundle."""

    user_id: str = Field(alias="userId", min_length=1, max_length=512)
    appointments: dict[str, Any]

    _bundle = field_validator("appointments")(_check_bundle)


class OrderDispatchContext(PatientContext):
    """order-dispatch 1.0: references to the orders sent to ``performer``, and optionally the
    Tasks asking the performer to fulfil them."""

    dispatched_orders: list[str] = Field(alias="dispatchedOrders", min_length=1)
    # The decision reads neither: CRD 2.2.1 CRDOrderDispatchContext has performer 0..1, and the
    # 2.2.0 ballot sent fulfillmentTasks as a Bundle, so both are taken as they come (§found-33).
    performer: str | None = Field(default=None, max_length=2048)
    fulfillment_tasks: Any = Field(default=None, alias="fulfillmentTasks")

    @field_validator("dispatched_orders")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for i, ref in enumerate(value):
            if not ref or len(ref) > 2048:
                raise ValueError(f"item {i} must be a reference such as 'ServiceRequest/123'")
        return value


class HookRequest(_Lenient):
    hook: str = _NONEMPTY
    hook_instance: str = Field(alias="hookInstance", min_length=1, max_length=512)
    fhir_server: str | None = Field(default=None, alias="fhirServer", max_length=2048)
    fhir_authorization: FhirAuthorization | None = Field(default=None, alias="fhirAuthorization")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhir_server")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("fhir_authorization", mode="before")
    @classmethod
    def _empty_token_is_no_token(cls, value: Any) -> Any:
        # The CRD request generator sends access_token "" against an open FHIR server: there is
        # no token to pass on, so the call is treated as one without fhirAuthorization (missing
        # prefetch then answers 412 naming the key).
        token = value.get("access_token") if isinstance(value, dict) else None
        if isinstance(token, str) and not token.strip():
            return None
        return value

    @model_validator(mode="after")
    def _token_needs_server(self) -> HookRequest:
        # Invariant cds-r-1: fhirAuthorization.exists() implies fhirServer.exists().
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self
