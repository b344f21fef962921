"""The CDS Services we offer (CDS Hooks 2.0 §Discovery): one row per hook.

A row says everything that differs between hooks: its context model, the standard Da Vinci CRD
prefetch templates it advertises, where its orders are in the context, and whether it is a CRD
*primary* hook (every in-scope order gets coverage information, CRD 2.2 §hook-16, §resp-26).
Adding a hook is adding a row; the decision core reads only these fields.

One id per hook: the CDS Hooks sandbox keys services by URL, so a shared id for order-select and
order-sign would hide one of them there.

encounter-start and encounter-discharge are not offered (CRD §hook-4: a server need not offer a
hook that is "not reasonably useful" for its coverage types): see docs/hooks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cds_service.crd_versions import declared_versions
from cds_service.hooks.request import (
    AppointmentBookContext,
    OrderDispatchContext,
    OrderSelectContext,
    OrderSignContext,
    PatientContext,
)
from cds_service.respond.options import configuration_options

# Da Vinci CRD 2.2.1 standard prefetch (input/resources/CRDServices.json, §found-29), for the
# data our decision reads. We only ever expand ``patient`` and ``coverage`` ourselves (plain
# 2.0 context tokens); the FHIRPath templates are for CRD clients (§found-25), and anything they
# do not prefetch we read from the EHR reference by reference.
PATIENT = {"patient": "Patient/{{context.patientId}}"}
COVERAGE = {"coverage": "Coverage?patient={{context.patientId}}&status=active"}
DISPATCH_PREFETCH = {
    f"{key}s": f"{rtype}?_id={{{{context.dispatchedOrders.resolve().ofType({rtype}).id}}}}"
    for key, rtype in (("communicationRequest", "CommunicationRequest"),
                       ("deviceRequest", "DeviceRequest"),
                       ("medicationRequest", "MedicationRequest"),
                       ("nutritionOrder", "NutritionOrder"),
                       ("serviceRequest", "ServiceRequest"),
                       ("visionPrescription", "VisionPrescription"))
}
_ALTERNATE = "extension('http://hl7.org/fhir/StructureDefinition/alternate-reference').value"
APPOINTMENT_PREFETCH = {
    "serviceRequests": "ServiceRequest?_id={{context.appointments.entry.resource.basedOn"
                       ".resolve().ofType(ServiceRequest).id}}",
    "deviceRequests": "DeviceRequest?_id={{context.appointments.entry.resource.basedOn."
                      f"{_ALTERNATE}.resolve().ofType(DeviceRequest).id}}}}",
    "medicationRequests": "MedicationRequest?_id={{context.appointments.entry.resource.basedOn."
                          f"{_ALTERNATE}.resolve().ofType(MedicationRequest).id}}}}",
}
USAGE = ("Send the member's active Coverage (prefetch 'coverage') or fhirServer with "
         "fhirAuthorization so it can be queried. Requests are authenticated with a signed JWT "
         "(CDS Hooks 2.0 \u00a7Trusting CDS Clients).")


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    context_model: type[PatientContext]
    primary: bool
    """Da Vinci CRD primary hooks answer with a systemActions array and coverage information
    for every in-scope order."""
    orders: str
    """The context field holding the hook's orders."""
    orders_kind: Literal["bundle", "references"]
    """A Bundle of resources (draftOrders, appointments) or references to them
    (dispatchedOrders), resolved from prefetch or the EHR's FHIR server."""
    selections: str | None = None
    """The context field narrowing the orders in scope (order-select: "Decision support should
    focus on the 'selected' orders")."""
    prefetch: dict[str, str] = field(default_factory=lambda: {**PATIENT, **COVERAGE})
    drafts: bool = True
    """The orders are drafts the user may still drop, so a card may suggest removing them
    (not so for order-dispatch: the order is signed and being sent)."""

    def discovery(self, card_types: list[str]) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "usageRequirements": USAGE,
            "prefetch": dict(self.prefetch),
            "extension": {
                "davinci-crd.version": declared_versions(),
                "davinci-crd.configuration-options": configuration_options(card_types),
            },
        }


SERVICES = {
    s.id: s for s in (
        ServiceDefinition(
            id="crd-order-select", hook="order-select", context_model=OrderSelectContext,
            primary=False, orders="draftOrders", orders_kind="bundle", selections="selections",
            title="Payer coverage requirements for selected orders",
            description="Checks newly selected orders against the payer's medical policies and "
                        "warns when the member's plan does not cover them.",
        ),
        ServiceDefinition(
            id="crd-order-sign", hook="order-sign", context_model=OrderSignContext,
            primary=True, orders="draftOrders", orders_kind="bundle",
            title="Payer coverage requirements for orders being signed",
            description="Checks every order being signed against the payer's medical policies, "
                        "warns when the member's plan does not cover it, and records the "
                        "coverage determination on the order (Da Vinci CRD).",
        ),
        ServiceDefinition(
            id="crd-appointment-book", hook="appointment-book",
            context_model=AppointmentBookContext, primary=True, orders="appointments",
            orders_kind="bundle", prefetch={**PATIENT, **COVERAGE, **APPOINTMENT_PREFETCH},
            title="Payer coverage requirements for appointments being booked",
            description="Checks each appointment being booked (and the order it is booked for) "
                        "against the payer's medical policies, warns when the member's plan "
                        "does not cover it, and records the coverage determination on the order "
                        "(Da Vinci CRD).",
        ),
        ServiceDefinition(
            id="crd-order-dispatch", hook="order-dispatch", context_model=OrderDispatchContext,
            primary=True, orders="dispatchedOrders", orders_kind="references",
            prefetch={**PATIENT, **COVERAGE, **DISPATCH_PREFETCH}, drafts=False,
            title="Payer coverage requirements for orders sent to a performer",
            description="Checks each order dispatched to a performing organization against the "
                        "payer's medical policies, warns when the member's plan does not cover "
                        "it, and records the coverage determination on the order (Da Vinci CRD).",
        ),
    )
}
