"""The orders a hook call asks about, read from its context as its registry row says.

    draftOrders / appointments   a Bundle of resources in the context
    dispatchedOrders             references, resolved from prefetch or the EHR's FHIR server
    selections                   narrows the orders to those selected (order-select)

An Appointment booked for the requests it is ``basedOn`` stands for each of them (CRD 2.2
appointment-book: the coverage information goes on the ServiceRequest); an Appointment based on
nothing is itself the order. Each resource is one order, however many times the context names it
(CRD §resp-26: one coverage-information action per in-scope request).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cds_service.errors import BadRequest, PreconditionFailed
from cds_service.fhir.coding import elements
from cds_service.fhir.data import RequestData
from cds_service.fhir.orders import ORDER_TYPES, Order, fulfilled_requests, request_reference
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
        named = [Order(i, e["resource"], f"context.{field}.entry[{i}].resource")
                 for i, e in enumerate(bundle_entries(service, context))]
    else:
        named = [Order(i, await _request(ref, f"context.{field}[{i}]", data),
                       f"context.{field}[{i}]")
                 for i, ref in enumerate(elements(context.get(field)))]
    if service.selections is not None:
        wanted = set(elements(context.get(service.selections)))
        named = [o for o in named if o.reference in wanted]
    orders: list[Order] = []
    seen: set[str] = set()
    for order in named:
        for found in await _fulfilled(order, data):
            if found.reference is not None and found.reference in seen:
                continue
            if found.reference is not None:
                seen.add(found.reference)
            orders.append(replace(found, index=len(orders)))
    return orders


async def _request(reference: str, where: str, data: RequestData,
                   within: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CRD request a reference names, from the request or the EHR's FHIR server."""
    parsed = request_reference(reference)
    if parsed is None:
        raise BadRequest(f"{where} must reference a CRD request ("
                         f"{', '.join(t for t in ORDER_TYPES if t != 'Appointment')}) as "
                         "Type/id", expression=where)
    rtype, relative = parsed
    resource = await data.resolve(relative, within)
    if resource is None or resource.get("resourceType") != rtype:
        # CDS Hooks 2.0 §Prefetch: 412 when data we cannot do without is neither prefetched nor
        # obtainable (CRD §found-32).
        raise PreconditionFailed(f"{where} ({relative}) was neither prefetched nor readable from "
                                 "the EHR's FHIR server", expression=where)
    return resource


async def _fulfilled(order: Order, data: RequestData) -> list[Order]:
    """The requests an Appointment is booked for, each an order reached through it; the
    resource itself when it carries out nothing, or nothing that can be read (then noted, so
    that no one is told no policy applies to a request nobody could look at)."""
    found, unread = [], []
    for j, ref in enumerate(fulfilled_requests(order.resource)):
        parsed = request_reference(ref)
        if parsed is None:
            continue  # basedOn something that is not a CRD request: not ours to assert on
        target = await data.resolve(parsed[1], order.resource)
        if target is None or target.get("resourceType") != parsed[0]:
            unread.append(parsed[1])
            continue
        found.append(Order(order.index, target, f"{order.path}.basedOn[{j}]", via=order.resource))
    return found or [replace(order, unread=tuple(unread))]
