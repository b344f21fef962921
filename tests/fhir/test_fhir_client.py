"""The FHIR fetcher and the shared outbound client in isolation: which URLs and references it
will request (only on the request's fhirServer), reads, limits, and the client's lifecycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from cds_service.config import Settings
from cds_service.fhir.client import FhirFetcher, OutboundHTTP
from cds_service.fhir.data import FetchFailed
from tests.auth.ehr import EHR, FHIR, example, serve, settings_for, with_fhir_access

Handler = Callable[[httpx2.Request], httpx2.Response]


def run(handler: Handler, action: Callable[[FhirFetcher], Any], *, max_fetches: int = 10,
        clock: Callable[[], float] | None = None) -> tuple[Any, list[httpx2.Request]]:
    seen: list[httpx2.Request] = []

    def recording(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return handler(request)

    async def go() -> Any:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(recording)) as http:
            fetcher = FhirFetcher(http, base=FHIR, token=SecretStr("t0k3n"),
                                  max_fetches=max_fetches, max_pages=5, timeout_seconds=2,
                                  clock=clock or time.monotonic)
            return await action(fetcher)

    return asyncio.run(go()), seen


def patient(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == "/fhir/Patient/pat-1":
        return httpx2.Response(200, json={"resourceType": "Patient", "id": "pat-1"})
    return httpx2.Response(404)


def test_a_relative_reference_is_read_from_the_fhir_server() -> None:
    found, seen = run(patient, lambda f: f.read("Patient/pat-1"))
    assert found == {"resourceType": "Patient", "id": "pat-1"}
    assert [str(r.url) for r in seen] == [f"{FHIR}/Patient/pat-1"]
    assert seen[0].headers["authorization"] == "Bearer t0k3n"


def test_an_absolute_reference_on_the_same_server_is_read() -> None:
    found, seen = run(patient, lambda f: f.read(f"{FHIR}/Patient/pat-1"))
    assert found is not None and len(seen) == 1


def test_a_missing_resource_is_none() -> None:
    found, _ = run(patient, lambda f: f.read("Patient/nobody"))
    assert found is None


@pytest.mark.parametrize("reference", ["#contained-1", "urn:uuid:0b6fc1a2-1111-4d6b-9f05-1"])
def test_local_references_are_not_requested(reference: str) -> None:
    found, seen = run(patient, lambda f: f.read(reference))
    assert found is None and seen == []


@pytest.mark.parametrize("reference", [
    "https://elsewhere.example/fhir/Patient/pat-1",   # another server gets no token
    "http://ehr.example.org/fhir/Patient/pat-1",      # same host, not https
    "https://ehr.example.org/fhirx/Patient/pat-1",    # not under the base path
    "Patient/../../admin",
    "Patient/pat 1",
    "../Patient/pat-1",
])
def test_references_off_the_server_or_malformed_are_refused(reference: str) -> None:
    with pytest.raises(FetchFailed):
        run(patient, lambda f: f.read(reference))


@pytest.mark.parametrize("url", ["/Coverage?patient=1", "../Coverage?patient=1",
                                 "https://elsewhere.example/fhir/Coverage?x=1",
                                 f"{FHIR}/../admin?x=1", "Coverage?patient=1#frag"])
def test_search_urls_off_the_server_are_refused(url: str) -> None:
    with pytest.raises(FetchFailed):
        run(patient, lambda f: f.search(url))


def test_a_read_template_is_answered_as_a_read() -> None:
    found, _ = run(patient, lambda f: f.search("Patient/pat-1"))
    assert found == [{"resourceType": "Patient", "id": "pat-1"}]
    found, _ = run(patient, lambda f: f.search("Patient/nobody"))
    assert found == []


def test_a_read_answering_another_type_is_refused() -> None:
    def wrong(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"resourceType": "Organization", "id": "x"})

    with pytest.raises(FetchFailed, match="answered Organization"):
        run(wrong, lambda f: f.read("Patient/pat-1"))


def test_search_keeps_matches_and_includes_but_not_outcomes() -> None:
    def mixed(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Coverage", "id": "c"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Organization", "id": "o"},
             "search": {"mode": "include"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": []},
             "search": {"mode": "outcome"}},
            "not an entry", {"resource": "not a resource"}]})

    found, _ = run(mixed, lambda f: f.search("Coverage?patient=p"))
    assert [r["resourceType"] for r in found] == ["Coverage", "Organization"]


def test_the_fetch_budget_counts_every_request() -> None:
    async def three_reads(fetcher: FhirFetcher) -> None:
        for _ in range(3):
            await fetcher.read("Patient/pat-1")

    with pytest.raises(FetchFailed, match="more than 2 FHIR requests"):
        run(patient, three_reads, max_fetches=2)


def test_the_time_limit_covers_all_requests_of_a_call() -> None:
    ticks = iter([0.0, 0.1, 2.5, 2.6])  # the first request starts the 2 s budget

    async def two_reads(fetcher: FhirFetcher) -> None:
        await fetcher.read("Patient/pat-1")
        await fetcher.read("Patient/pat-1")

    with pytest.raises(FetchFailed, match="are spent"):
        run(patient, two_reads, clock=lambda: next(ticks))


# --- the shared client --------------------------------------------------------------------------

def test_the_outbound_client_exists_between_startup_and_shutdown(tmp_path: Path) -> None:
    outbound = OutboundHTTP(Settings(database_url=f"sqlite:///{tmp_path}/x.db"))
    with pytest.raises(RuntimeError, match=r"Runtime\.startup"):
        outbound.client()

    async def lifecycle() -> httpx2.AsyncClient:
        await outbound.start()
        client = outbound.client()
        await outbound.start()
        assert outbound.client() is client
        await outbound.aclose()
        return client

    assert asyncio.run(lifecycle()).is_closed


def test_the_shared_client_keeps_no_cookies(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def sets_cookie(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"resourceType": "Patient", "id": "pat-1"},
                               headers={"Set-Cookie": "session=from-ehr-a; Path=/"})

    outbound = OutboundHTTP(Settings(), transport=httpx2.MockTransport(sets_cookie))

    async def two_calls() -> None:
        await outbound.start()
        for token in ("a", "b"):
            fetcher = FhirFetcher(outbound.client(), base=FHIR, token=SecretStr(token),
                                  max_fetches=1, max_pages=1, timeout_seconds=2)
            await fetcher.read("Patient/pat-1")
        await outbound.aclose()

    asyncio.run(two_calls())
    assert [r.headers.get("cookie") for r in seen] == [None, None]


def test_one_client_serves_every_hook_call_and_closes_at_shutdown(tmp_path: Path,
                                                                  trust_file: Path) -> None:
    clients: list[int] = []

    def fhir(request: httpx2.Request) -> httpx2.Response:
        coverage = example()["prefetch"]["coverage"]
        return httpx2.Response(200, json=coverage)

    with serve(settings_for(tmp_path, trust_file), fhir) as service:
        runtime = service.app.state.runtime  # type: ignore[attr-defined]
        for _ in range(2):
            body = with_fhir_access(example())
            del body["prefetch"]["coverage"]
            assert service.post("/cds-services/crd-order-sign", json=body,
                                headers=EHR().auth()).status_code == 200
            clients.append(id(runtime.outbound.client()))
        shared = runtime.outbound.client()
    assert len(set(clients)) == 1
    assert shared.is_closed
