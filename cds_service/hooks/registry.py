"""The CDS Services we offer (CDS Hooks 2.0 §Discovery) and how each reads its context.

One id per hook: the CDS Hooks sandbox keys services by URL, so a shared id for order-select and
order-sign would hide one of them there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.hooks.request import OrderSelectContext, OrderSignContext
from cds_service.respond.options import SUPPORTED_VERSIONS, configuration_options

# CRD 2.2 standard prefetch for the data our decision needs (§found-29). Only context tokens
# that 2.0 allows; everything else an order references is resolved or queried on demand.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
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
    context_model: type[OrderSignContext]
    primary: bool
    """Da Vinci CRD primary hooks always answer with a systemActions array."""

    def discovery(self, card_types: list[str]) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "usageRequirements": USAGE,
            "prefetch": dict(PREFETCH),
            "extension": {
                "davinci-crd.version": list(SUPPORTED_VERSIONS),
                "davinci-crd.configuration-options": configuration_options(card_types),
            },
        }


SERVICES = {
    s.id: s for s in (
        ServiceDefinition(
            id="crd-order-select", hook="order-select", context_model=OrderSelectContext,
            primary=False,
            title="Payer coverage requirements for selected orders",
            description="Checks newly selected orders against the payer's medical policies and "
                        "warns when the member's plan does not cover them.",
        ),
        ServiceDefinition(
            id="crd-order-sign", hook="order-sign", context_model=OrderSignContext,
            primary=True,
            title="Payer coverage requirements for orders being signed",
            description="Checks every order being signed against the payer's medical policies, "
                        "warns when the member's plan does not cover it, and records the "
                        "coverage determination on the order (Da Vinci CRD).",
        ),
    )
}
