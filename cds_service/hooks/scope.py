"""The orders a hook call asks about, read from its context as its registry row says.

    draftOrders / appointments   a Bundle of resources in the context
    dispatchedOrders             references, resolved from prefetch or the EHR's FHIR server
    selections                   narrows the orders to those selected (order-select)

An Appointment booked for a request it is ``basedOn`` stands for that request (CRD 2.2
appointment-book: the coverage information goes on the ServiceRequest); when the request cannot
be had, the Appointment itself is the order.
"""

from __future__ import annotations

from typing import Any

from cds_service.errors import PreconditionFailed
from cds_service.fhir.coding import elements
from cds_service.fhir.data import RequestData
from cds_service.fhir.orders import ORDER_TYPES, Order, fulfilled_requests
from cds_service.hooks.registry import ServiceDefinition


def bundle_entries(service: ServiceDefinition, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of the hook's order Bundle (already shape-checked by the context model)."""
    if service.orders_kind != "bundle":
        return []
    value = context.get(service.orders)
    return list(elements(value.get("entry"))) if isinstance(value, dict) else []


async def orders_in_scope(service: ServiceDefinition, context: dict[str, Any],
                          data: RequestData) -> list[Order]:
    field = service.orders
    if service.orders_kind == "bundle":
        orders = [Order(i, e["resource"], f"context.{field}.entry[{i}].resource")
                  for i, e in enumerate(bundle_entries(service, context))]
    else:
        orders = []
        for i, ref in enumerate(elements(context.get(field))):
            resource = await data.resolve(ref)
            if resource is None or not isinstance(resource.get("resourceType"), str):
                # CDS Hooks 2.0 §Prefetch: 412 when data we cannot do without is neither
                # prefetched nor obtainable (CRD §found-32).
                raise PreconditionFailed(
                    f"context.{field}[{i}] was neither prefetched nor readable from the EHR's "
                    "FHIR server", expression=f"context.{field}[{i}]")
            orders.append(Order(i, resource, f"context.{field}[{i}]"))
    if service.selections is not None:
        wanted = set(elements(context.get(service.selections)))
        orders = [o for o in orders if o.reference in wanted]
    return [await _fulfilled(order, data) for order in orders]


async def _fulfilled(order: Order, data: RequestData) -> Order:
    for ref in fulfilled_requests(order.resource):
        target = await data.resolve(ref, order.resource)
        rtype = target.get("resourceType") if target is not None else None
        if target is not None and rtype in ORDER_TYPES and rtype != order.resource_type:
            return Order(order.index, target, f"{order.path}.basedOn", via=order.resource)
    return order
