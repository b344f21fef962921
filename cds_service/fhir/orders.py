"""Draft orders in scope for a hook call, read from plain dicts (pure).

Reading codes with a dict walk costs microseconds; full R4B validation (~0.6 ms per order) is
kept for the orders a policy actually matches (see ``fhir.validate``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cds_service.fhir.coding import codings, elements

# Da Vinci CRD 2.2: candidate billing codes on a clinically coded order (on ServiceRequest.code).
BILLING_OPTIONS = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options"


@dataclass(frozen=True)
class Order:
    index: int
    """Position in draftOrders.entry, for error paths and stable ordering."""
    resource: dict[str, Any]

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])

    @property
    def id(self) -> str | None:
        value = self.resource.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def reference(self) -> str | None:
        return f"{self.resource_type}/{self.id}" if self.id else None

    @property
    def path(self) -> str:
        return f"context.draftOrders.entry[{self.index}].resource"

    def describe(self) -> str:
        """How a clinician knows the order: its text, else the first coding's display."""
        code = self.resource.get("code")
        if isinstance(code, dict):
            if isinstance(code.get("text"), str) and code["text"]:
                return str(code["text"])
            for coding in elements(code.get("coding")):
                if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                    return str(coding["display"])
        return self.resource_type


def orders_in_scope(entries: list[dict[str, Any]], selections: list[str] | None) -> list[Order]:
    """order-sign evaluates every draft order; order-select only the ``selections``
    (order-select hook: "Decision support should focus on the 'selected' orders")."""
    orders = [Order(i, e["resource"]) for i, e in enumerate(entries)]
    if selections is None:
        return orders
    wanted = set(selections)
    return [o for o in orders if o.reference in wanted]


def order_codes(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(system, code) of the order's code and of any CRD billing options attached to it."""
    code = resource.get("code")
    yield from codings(code)
    if isinstance(code, dict):
        for ext in elements(code.get("extension")):
            if isinstance(ext, dict) and ext.get("url") == BILLING_OPTIONS:
                yield from codings(ext.get("valueCodeableConcept"))
