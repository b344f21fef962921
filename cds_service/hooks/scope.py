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
        _no_conflicting_ids(named)
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
            orders.append(found if found.index == len(orders)
                          else replace(found, index=len(orders)))
    return orders


def _no_conflicting_ids(orders: list[Order]) -> None:
    """Two different resources under one ``Type/id`` cannot both receive coverage information
    (the EHR applies an update by id): which one the clinician means cannot be told."""
    first: dict[str, Order] = {}
    for order in orders:
        if order.reference is None:
            continue
        other = first.setdefault(order.reference, order)
        if other is not order and other.resource != order.resource:
            raise BadRequest(f"{order.path} and {other.path} are different resources with the "
                             f"same id {order.reference}", expression=order.path)


class _Elsewhere(Exception):
    """An absolute reference to another server than ``fhirServer``."""


async def _lookup(reference: str, rtype: str, relative: str, data: RequestData,
                  within: dict[str, Any] | None) -> dict[str, Any] | None:
    """The CRD request a parsed reference names, from the request or the EHR's FHIR server;
    None when neither has it. An absolute reference must be the full URL of a resource the
    request carries, or be on the EHR's FHIR server: read there as ``Type/id`` otherwise,
    another server's order would be decided as a different one (raises ``_Elsewhere``)."""
    resource = None
    if "://" in reference:
        resource = data.index.exact(reference)
        if resource is None and not _on_server(reference, relative, data.server):
            raise _Elsewhere
    if resource is None:
        resource = await data.resolve(relative, within)
    return resource if resource is not None and resource.get("resourceType") == rtype else None


async def _request(reference: str, where: str, data: RequestData) -> dict[str, Any]:
    """A dispatched order: the call is about it, so not having it is an error."""
    parsed = request_reference(reference)
    if parsed is None:
        raise BadRequest(f"{where} must reference a CRD request ("
                         f"{', '.join(t for t in ORDER_TYPES if t != 'Appointment')}) as "
                         "Type/id", expression=where)
    try:
        resource = await _lookup(reference, *parsed, data, None)
    except _Elsewhere:
        raise BadRequest(f"{where} names a resource on another server than fhirServer",
                         expression=where) from None
    if resource is None:
        # CDS Hooks 2.0 §Prefetch: 412 when data we cannot do without is neither prefetched nor
        # obtainable (CRD §found-32).
        raise PreconditionFailed(f"{where} ({parsed[1]}) was neither prefetched nor readable "
                                 "from the EHR's FHIR server", expression=where)
    return resource


def _on_server(reference: str, relative: str, server: str | None) -> bool:
    if server is None:
        return False
    here = f"{server.rstrip('/')}/{relative}"
    return reference == here or reference.startswith(f"{here}/_history/")


async def _fulfilled(order: Order, data: RequestData) -> list[Order]:
    """The requests an Appointment is booked for, each an order reached through it; the
    resource itself when it carries out nothing, or nothing that can be read (then noted, so
    that no one is told no policy applies to a request nobody could look at)."""
    found, unread = [], []
    for j, ref in enumerate(fulfilled_requests(order.resource)):
        parsed = request_reference(ref)
        if parsed is None:
            continue  # basedOn something that is not a CRD request: not ours to assert on
        try:
            target = await _lookup(ref, *parsed, data, order.resource)
        except _Elsewhere:
            target = None  # on another server: not ours to read as the EHR's
        if target is None:
            unread.append(parsed[1])
            continue
        found.append(Order(order.index, target, f"{order.path}.basedOn[{j}]", via=order.resource))
    return found or [replace(order, unread=tuple(unread)) if unread else order]
