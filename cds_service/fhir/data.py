"""Everything a decision may read for one hook call: draft orders, prefetch, and (when the caller
allows it) the EHR's FHIR server through a ``Fetcher``.

CDS Hooks 2.0 §Prefetch Template: "It is the CDS Service's responsibility to check prefetched
data against its template ... and to programmatically retrieve any additional necessary data";
when that is impossible the service SHALL answer 412.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from cds_service.errors import PreconditionFailed
from cds_service.fhir.coding import elements
from cds_service.fhir.prefetch import Slot, expand, resource_type_of, slot
from cds_service.fhir.references import ResourceIndex, bundle_resources


class Fetcher(Protocol):
    """Reads from the EHR's FHIR server for one hook call (see ``fhir.client``)."""

    async def search(self, relative_url: str) -> list[dict[str, Any]]:
        """All resources of a search, following ``next`` links within the configured limits.
        Also takes an absolute URL on the same server: the ``next`` link of a prefetched page."""

    async def read(self, reference: str) -> dict[str, Any] | None:
        """One resource by relative or absolute reference; None when the server has none."""


T = TypeVar("T")


class FetchFailed(Exception):
    """The EHR's FHIR server could not answer (refused, timed out, error status, not allowed)."""


def next_link(bundle: dict[str, Any]) -> str | None:
    """The ``next`` page URL of a Bundle (FHIR R4 §Paging), if any."""
    if bundle.get("resourceType") != "Bundle":
        return None
    for link in elements(bundle.get("link")):
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


class RequestData:
    def __init__(self, *, context: dict[str, Any], entries: list[dict[str, Any]],
                 prefetch: dict[str, Any] | None, templates: dict[str, str],
                 fetcher: Fetcher | None, server: str | None = None) -> None:
        self.context = context
        self.server = server
        """The EHR's FHIR server base (``fhirServer``): absolute references elsewhere are not
        read as if they were its resources."""
        self.prefetch = prefetch
        self.templates = templates
        self.fetcher = fetcher
        self.fetched: list[str] = []
        """Relative URLs queried on the EHR's server, for the decision record."""
        self._resolved: dict[str, list[dict[str, Any]]] = {}
        """Prefetch keys already resolved: every matched order asks for the coverage."""
        self._derived: dict[tuple[str, int], tuple[dict[str, Any], Any]] = {}
        self.index = ResourceIndex()
        for entry in entries:
            full_url = entry.get("fullUrl")
            self.index.add(entry["resource"], full_url if isinstance(full_url, str) else None)
        for value in (prefetch or {}).values():
            self.index.add_bundle(value)

    def derived(self, what: str, resource: dict[str, Any],
                compute: Callable[[dict[str, Any]], T]) -> T:
        """``compute(resource)``, once per call and resource: the member's Coverage is read for
        every order, and reading it anew each time made a call quadratic (800 orders and a
        Coverage of 2,000 classes: 39 s). The resource is kept with the value, so its ``id()``
        cannot be reused within the call."""
        key = (what, id(resource))
        if key not in self._derived:
            self._derived[key] = (resource, compute(resource))
        return self._derived[key][1]  # type: ignore[no-any-return]

    async def prefetched(self, key: str) -> list[dict[str, Any]]:
        """Resources for one of our prefetch keys, querying the EHR when the client did not
        satisfy it (once per call). An empty list means the client (or the server) found
        nothing."""
        if key not in self._resolved:
            self._resolved[key] = await self._resolve(key)
        return self._resolved[key]

    async def _resolve(self, key: str) -> list[dict[str, Any]]:
        state, value = slot(self.prefetch, key)
        if state is Slot.PRESENT:
            return await self._all_pages(key, value)
        if state is Slot.NULL:
            return []
        elsewhere = await self._under_other_keys(key)
        if elsewhere:
            return elsewhere
        url = expand(self.templates[key], self.context)
        if url is None:
            raise PreconditionFailed(f"prefetch {key!r} cannot be built from the context",
                                     expression=f"prefetch.{key}")
        if self.fetcher is None:
            why = "failed at the client" if state is Slot.FAILED else "was not provided"
            raise PreconditionFailed(
                f"prefetch {key!r} ({self.templates[key]}) {why} and the EHR's FHIR server "
                "cannot be queried (no fhirServer/fhirAuthorization, or the server is not "
                "allowed for this client)",
                expression=f"prefetch.{key}")
        try:
            resources = await self.fetcher.search(url)
        except FetchFailed as exc:
            raise PreconditionFailed(f"prefetch {key!r} could not be fetched from the EHR: {exc}",
                                     expression=f"prefetch.{key}") from None
        self.fetched.append(url)
        for resource in resources:
            self.index.add(resource)
        return resources

    async def _under_other_keys(self, key: str) -> list[dict[str, Any]]:
        """Resources of our key's type that the client prefetched under keys of its own (the
        Da Vinci CRD request generator sends the Coverage as ``coverageBundle``; Inferno's 2.0.1
        order-dispatch bodies send the order as ``order``): clients SHALL NOT depend on key
        names (CRD 2.2 §found-30), so neither do we. A key we do not know is never an error."""
        rtype = resource_type_of(self.templates[key])
        found: list[dict[str, Any]] = []
        for other, value in (self.prefetch or {}).items():
            if other in self.templates or slot(self.prefetch, other)[0] is not Slot.PRESENT:
                continue
            if any(r.get("resourceType") == rtype for r in bundle_resources(value)):
                found += [r for r in await self._all_pages(other, value)
                          if r.get("resourceType") == rtype]
        return found

    async def _all_pages(self, key: str, value: dict[str, Any]) -> list[dict[str, Any]]:
        """A prefetched resource, or every page of a prefetched search: 2.0 lets clients send a
        paginated Bundle (§Prefetch Template), and deciding on the first page alone could miss
        the member's active Coverage."""
        resources = list(bundle_resources(value))
        following = next_link(value)
        if following is None:
            return resources
        if self.fetcher is None:
            raise PreconditionFailed(
                f"prefetch {key!r} is one page of a paginated Bundle and the EHR's FHIR server "
                "cannot be queried for the other pages", expression=f"prefetch.{key}")
        try:
            more = await self.fetcher.search(following)
        except FetchFailed as exc:
            raise PreconditionFailed(f"prefetch {key!r}: the next pages could not be fetched "
                                     f"from the EHR: {exc}", expression=f"prefetch.{key}") from None
        self.fetched.append(f"{self.templates.get(key, key)} (next pages)")
        for resource in more:
            self.index.add(resource)
        return resources + more

    async def resolve(self, reference: str, within: dict[str, Any] | None = None,
                      ) -> dict[str, Any] | None:
        """A referenced resource from the request, else from the EHR when we may ask; None when
        neither has it (references the order needs are optional to our decision)."""
        found = self.index.resolve(reference, within)
        if found is not None or reference.startswith("#") or self.fetcher is None:
            return found
        try:
            found = await self.fetcher.read(reference)
        except FetchFailed:
            return None
        if found is not None:
            self.fetched.append(reference)
            self.index.add(found)
        return found
