"""Reading the EHR's FHIR server for one hook call (CDS Hooks 2.0 §FHIR Resource Access), and the
process's one outbound HTTP client (EHR FHIR servers and clients' JWK Sets share its pool).

We query only when the request carries ``fhirServer`` and ``fhirAuthorization`` (§Passing the
Access Token: the service "MAY use the FHIR server to obtain any FHIR resources for which it's
authorized"), the server is allowlisted for the authenticated client (otherwise a caller could
aim our requests, and its user's token, anywhere) and, outside development, is https (2.0: "MUST
be https when production data is exchanged").

The access token is a transient value (2.0: "MUST be treated as a transient value"): it lives in
the ``FhirFetcher`` of one hook call, goes only to that call's ``fhirServer`` (never to another
host, not even through a ``next`` link or a redirect), and is never logged or stored. The shared
client keeps no cookies, so nothing one EHR sets travels with another call.

Each hook call gets at most ``CDS_FHIR_MAX_FETCHES`` requests, ``CDS_FHIR_MAX_PAGES`` pages per
search, and ``CDS_FHIR_TIMEOUT_SECONDS`` for all of them together: the EHR waits on our answer
(2.0: respond "on the order of 500 ms").
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
from pydantic import SecretStr

from cds_service import __version__
from cds_service.auth.client import Client
from cds_service.config import Settings
from cds_service.fhir.coding import elements
from cds_service.fhir.data import FetchFailed, next_link
from cds_service.fhir.names import loggable_type
from cds_service.hooks.request import HookRequest

log = logging.getLogger("cds_service.fhir")

FHIR_JSON = "application/fhir+json"
#: A Coverage search or a single resource is a few kilobytes; this is a generous ceiling.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_ID = r"[A-Za-z0-9\-.]{1,64}"
_READ = re.compile(rf"^([A-Za-z]+)/{_ID}(/_history/{_ID})?$")
_TYPE = re.compile(r"^([A-Za-z]+)")


class OutboundHTTP:
    """The one ``httpx2.AsyncClient`` of a process: created in ``Runtime.startup``, closed in
    ``shutdown``. ``transport`` is for tests (``httpx2.MockTransport``)."""

    def __init__(self, settings: Settings,
                 transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is not None:
            return
        # httpx2 logs every request's full URL at INFO, and our URLs name the patient
        # (Coverage?patient=...): its request log stays off; ours (FhirFetcher) has no URLs.
        logging.getLogger("httpx2").setLevel(logging.WARNING)
        self._client = httpx2.AsyncClient(
            transport=self._transport,
            timeout=httpx2.Timeout(self._settings.fhir_timeout_seconds),
            follow_redirects=False,  # a redirect could carry the bearer token elsewhere
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # keep none
            limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"User-Agent": f"cds-service/{__version__}"},
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            raise RuntimeError("the outbound HTTP client is created in Runtime.startup (the app "
                               "lifespan); in tests use `with TestClient(app) as client`")
        return self._client


class FhirFetcher:
    """``fhir.data.Fetcher`` for one hook call against the request's ``fhirServer``."""

    def __init__(self, http: httpx2.AsyncClient, *, base: str, token: SecretStr | None,
                 max_fetches: int, max_pages: int, timeout_seconds: float,
                 log_context: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self.base = base.rstrip("/")
        self._token = token
        self._max_fetches = max_fetches
        self._max_pages = max_pages
        self._timeout = timeout_seconds
        self._log_context = log_context or {}
        self._clock = clock
        self._deadline: float | None = None
        self.requests = 0
        """HTTP requests sent so far for this hook call."""

    async def search(self, relative_url: str) -> list[dict[str, Any]]:
        if _READ.match(relative_url):  # a read template, e.g. Patient/{{context.patientId}}
            found = await self.read(relative_url)
            return [found] if found is not None else []
        kind = _resource_type(relative_url, self.base)
        url = self._url(relative_url)
        resources: list[dict[str, Any]] = []
        for _ in range(self._max_pages):
            bundle = await self._get(url, kind=kind, interaction="search")
            if bundle is None or bundle.get("resourceType") != "Bundle":
                got = bundle.get("resourceType") if bundle else "nothing"
                raise FetchFailed(f"the {kind} search answered {got}, not a Bundle")
            for entry in elements(bundle.get("entry")):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                search = entry.get("search") if isinstance(entry, dict) else None
                if isinstance(search, dict) and search.get("mode") == "outcome":
                    continue  # a server's warnings about the search, not data
                if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                    resources.append(resource)
            following = next_link(bundle)
            if following is None:
                return resources
            if not self._on_server(following):
                # Following it would send the access token to another server.
                raise FetchFailed(f"the {kind} search's next link leaves the FHIR server")
            url = following
        raise FetchFailed(f"the {kind} search has more than {self._max_pages} pages "
                          "(CDS_FHIR_MAX_PAGES)")

    async def read(self, reference: str) -> dict[str, Any] | None:
        if reference.startswith(("#", "urn:")):
            return None  # contained or bundle-local: not on any server
        if "://" in reference:
            if not self._on_server(reference):
                raise FetchFailed("the reference points to another server than fhirServer")
            relative = reference[len(self.base) + 1:]
        else:
            relative = reference
        match = _READ.match(relative)
        if match is None:
            raise FetchFailed("not a FHIR reference of the form Type/id")
        found = await self._get(f"{self.base}/{relative}", kind=match.group(1),
                                interaction="read", missing_ok=True)
        if found is not None and found.get("resourceType") != match.group(1):
            raise FetchFailed(f"the {match.group(1)} read answered {found.get('resourceType')}")
        return found

    def _url(self, relative_or_absolute: str) -> str:
        if "://" in relative_or_absolute:
            if not self._on_server(relative_or_absolute):
                raise FetchFailed("the URL points to another server than fhirServer")
            return relative_or_absolute
        path = relative_or_absolute.split("?", 1)[0]
        if (relative_or_absolute.startswith("/") or "#" in relative_or_absolute
                or not _TYPE.match(path) or any(s in (".", "..") for s in path.split("/"))):
            raise FetchFailed("not a relative FHIR URL")
        return f"{self.base}/{relative_or_absolute}"

    def _on_server(self, url: str) -> bool:
        target, base = urlsplit(url), urlsplit(self.base)
        segments = target.path.split("/")
        return (target.scheme == base.scheme and target.netloc.lower() == base.netloc.lower()
                and (target.path == base.path or target.path.startswith(base.path + "/"))
                and ".." not in segments and "." not in segments)

    async def _get(self, url: str, *, kind: str, interaction: str,
                   missing_ok: bool = False) -> dict[str, Any] | None:
        if self.requests >= self._max_fetches:
            raise FetchFailed(f"more than {self._max_fetches} FHIR requests would be needed "
                              "for this hook call (CDS_FHIR_MAX_FETCHES)")
        self.requests += 1
        started = self._clock()
        if self._deadline is None:
            self._deadline = started + self._timeout
        remaining = self._deadline - started
        if remaining <= 0:
            raise FetchFailed(f"the {self._timeout}s for FHIR queries (CDS_FHIR_TIMEOUT_SECONDS) "
                              "are spent")
        headers = {"Accept": FHIR_JSON}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        status: int | None = None
        outcome = "error"
        try:
            async with asyncio.timeout(remaining), self._http.stream(
                    "GET", url, headers=headers, timeout=remaining) as response:
                status = response.status_code
                if missing_ok and status in (404, 410):
                    outcome = "not found"
                    return None
                if status != 200:
                    raise FetchFailed(f"the FHIR server answered HTTP {status} to the {kind} "
                                      f"{interaction}")
                body = await _read_limited(response)
            value = _parse(body, kind, interaction)
            outcome = "ok"
            return value
        except (TimeoutError, httpx2.TimeoutException):
            outcome = "timeout"
            raise FetchFailed(f"the {kind} {interaction} timed out") from None
        except httpx2.HTTPError as exc:
            raise FetchFailed(f"the {kind} {interaction} failed ({exc.__class__.__name__})"
                              ) from None
        finally:
            # What was asked and how it went; never the URL (it names the patient), nor a type
            # that is not FHIR's (it comes from a reference or link the caller wrote).
            log.info("FHIR %s %s: %s", loggable_type(kind), interaction, outcome, extra={
                **self._log_context, "status": status,
                "duration_ms": round((self._clock() - started) * 1000)})


async def _read_limited(response: httpx2.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise FetchFailed(f"the FHIR server's answer is over {MAX_RESPONSE_BYTES} bytes")
    return bytes(body)


def _parse(body: bytes, kind: str, interaction: str) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FetchFailed(f"the {kind} {interaction} answered invalid JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise FetchFailed(f"the {kind} {interaction} answered JSON that is not a FHIR resource")
    return value


def _resource_type(url: str, base: str) -> str:
    if url.startswith(base):
        url = url[len(base):].lstrip("/")
    match = _TYPE.match(url)
    return match.group(1) if match else "FHIR"


def fetcher_for(settings: Settings, http: Callable[[], httpx2.AsyncClient],
                request: HookRequest, client: Client) -> FhirFetcher | None:
    """The fetcher for one hook call, or None when we may not query (``fhir.data`` then answers
    412 for data it cannot do without)."""
    server, authorization = request.fhir_server, request.fhir_authorization
    if server is None or authorization is None or settings.fhir_max_fetches == 0:
        return None
    context = {"hookInstance": request.hook_instance, "iss": client.iss}
    if not client.may_query(server):
        # Never the URL itself: the caller chose it, and it can name the patient.
        log.warning("fhirServer is not allowlisted for this client; not queried", extra=context)
        return None
    if urlsplit(server).scheme != "https" and not settings.is_development:
        log.warning("fhirServer is not https; not queried", extra=context)
        return None
    if authorization.token_type.lower() != "bearer":
        log.warning("fhirAuthorization.token_type is not Bearer; not queried", extra=context)
        return None
    return FhirFetcher(http(), base=server, token=authorization.access_token,
                       max_fetches=settings.fhir_max_fetches, max_pages=settings.fhir_max_pages,
                       timeout_seconds=settings.fhir_timeout_seconds, log_context=context)
