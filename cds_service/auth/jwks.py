"""The public keys of trusted CDS Clients (CDS Hooks 2.0 §Trusting CDS Clients: "the CDS Client
MUST make its public key, expressed as a JSON Web Key (JWK) in a JWK Set, available").

A client's keys come from the trust file (``jwks``, inline) or from its allowlisted ``jwks_url``,
fetched with the process's one outbound HTTP client, cached, and fetched again at once when a
token names an unknown ``kid`` (key rotation), then not again for that reason within the cooldown,
so a stream of tokens with invented ``kid`` values cannot turn us into a load generator against
the client's key server.

``jwt.decode`` gets a ``PyJWK`` (not the bare key) so the token's ``alg`` must match the key's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import httpx2
import orjson
from jwt import PyJWK
from jwt.exceptions import PyJWKError

log = logging.getLogger("cds_service.auth")

#: Asymmetric signature algorithms we can verify. 2.0 §JWT Signing Algorithm: "SHALL NOT be
#: signed using the none algorithm" nor "any symmetric algorithm"; ES384 and RS384 RECOMMENDED.
SUPPORTED_ALGORITHMS = frozenset({
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
#: JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
#: A client's JWK Set is a few keys; anything bigger is not one.
MAX_JWKS_BYTES = 256 * 1024


class KeysUnavailable(Exception):
    """The key set could not be obtained (and no recent copy is cached)."""


def key_problems(jwk: Any) -> list[str]:
    """Why a JWK cannot verify CDS Hooks JWTs; empty when it can."""
    if not isinstance(jwk, dict):
        return ["must be a JSON object"]
    problems = []
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        problems.append("kid: required (2.0: kid selects the key)")
    kty = jwk.get("kty")
    if kty not in ("EC", "RSA"):
        problems.append(f"kty: {kty!r} is not an asymmetric key type (EC or RSA)")
    if any(m in jwk for m in _PRIVATE_MEMBERS):
        problems.append("contains private key material; a trust file holds public keys only")
    if jwk.get("use", "sig") != "sig":
        problems.append(f"use: {jwk.get('use')!r}; only signature keys ('sig') verify tokens")
    alg = jwk.get("alg")
    if alg is not None and alg not in SUPPORTED_ALGORITHMS:
        problems.append(f"alg: {alg!r} is not an allowed asymmetric algorithm")
    if kty == "EC" and alg is None and jwk.get("crv") not in _EC_CURVES:
        problems.append(f"crv: {jwk.get('crv')!r} is not a supported curve")
    if not problems:
        try:
            PyJWK(jwk, alg or _default_algorithm(jwk))
        except PyJWKError as exc:
            problems.append(f"not a usable key: {exc.__class__.__name__}")
    return problems


def _default_algorithm(jwk: dict[str, Any]) -> str:
    return _EC_CURVES.get(jwk.get("crv", ""), "ES384") if jwk.get("kty") == "EC" else "RS384"


def _key_algorithm(jwk: dict[str, Any], token_alg: str) -> str | None:
    """The algorithm this key verifies for a token signed with ``token_alg``: the JWK's own
    ``alg`` when it has one; EC keys are bound to their curve; an RSA key without ``alg`` (common
    in published key sets) serves any RSA algorithm."""
    alg = jwk.get("alg")
    if isinstance(alg, str):
        return alg
    if jwk.get("kty") == "EC":
        return _EC_CURVES.get(jwk.get("crv", ""))
    if jwk.get("kty") == "RSA" and token_alg[:2] in ("RS", "PS"):
        return token_alg
    return None


class KeySet:
    """One snapshot of a client's usable keys, by ``kid``."""

    def __init__(self, keys: Iterable[dict[str, Any]]) -> None:
        self._jwks: dict[str, dict[str, Any]] = {}
        for jwk in keys:
            self._jwks.setdefault(jwk["kid"], jwk)
        self._prepared: dict[tuple[str, str], PyJWK] = {}

    def __contains__(self, kid: object) -> bool:
        return kid in self._jwks

    def __len__(self) -> int:
        return len(self._jwks)

    def key(self, kid: str, alg: str) -> PyJWK:
        """The key for ``kid`` bound to ``alg``; KeyError for an unknown kid, ValueError when the
        key is not for that algorithm (e.g. an RS384 token naming an EC key)."""
        jwk = self._jwks[kid]
        key_alg = _key_algorithm(jwk, alg)
        if key_alg != alg:
            raise ValueError(f"key {kid!r} is for {key_alg or 'other algorithms'}, not {alg}")
        prepared = self._prepared.get((kid, alg))
        if prepared is None:
            prepared = self._prepared[(kid, alg)] = PyJWK(jwk, alg)
        return prepared

    @classmethod
    def parse(cls, document: Any, *, source: str) -> KeySet:
        """Keys from a JWK Set fetched from a client: unusable keys are skipped (a set may hold
        encryption keys or algorithms we do not take), but one usable key is required."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise KeysUnavailable(f"{source}: not a JWK Set (an object with a 'keys' array)")
        usable = [k for k in document["keys"] if not key_problems(k)]
        if not usable:
            raise KeysUnavailable(f"{source}: no usable signature key in the JWK Set")
        return cls(usable)


class KeySource(Protocol):
    async def key_set(self, kid: str) -> KeySet:
        """The client's current keys, refreshed first when ``kid`` is not among them (if the
        source can refresh); raises ``KeysUnavailable``."""

    def unknown_kid(self) -> tuple[str, dict[str, str]]:
        """Why the ``kid`` of the last ``key_set`` call, not among the keys it returned, was
        not found, for the refusal's log line: words and log fields (the setting involved)."""


class StaticKeys:
    """Keys written in the trust file (2.0: the JWK Set may be "communicated out-of-band")."""

    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    async def key_set(self, kid: str) -> KeySet:
        return self._keys

    def unknown_kid(self) -> tuple[str, dict[str, str]]:
        return "not among the trust file's jwks (keys written there are never fetched)", {}


class RemoteKeys:
    """Keys fetched from an allowlisted URL, cached for ``cache_seconds``. A token naming a
    ``kid`` not in the cached set (the client rotated its key) triggers an immediate fetch, then
    no other such fetch for ``cooldown_seconds``: key rotation costs no outage, and invented
    ``kid`` values cost the client's key server one request per cooldown. Fetches for an expired
    or missing set are paced by the same cooldown. When a refresh fails, the previous set stays
    usable for one more cache period (the client's key server being down for a minute should
    not lock every EHR user out)."""

    def __init__(self, url: str, http: Callable[[], httpx2.AsyncClient], *,
                 cache_seconds: float, cooldown_seconds: float, timeout_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._http = http
        self._cache_seconds = cache_seconds
        self._cooldown = cooldown_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._unknown_kid_at = float("-inf")
        """When an unknown kid last caused a fetch (the rate limit of rotation fetches)."""
        self._skipped_at: float | None = None
        """Set by a ``key_set`` call whose unknown kid was not refetched (the cooldown)."""
        self._bare_array_logged = False
        self._lock = asyncio.Lock()
        self.fetches = 0
        """Fetch attempts so far (observable by tests and metrics)."""

    async def key_set(self, kid: str) -> KeySet:
        now = self._clock()
        skipped = None
        if self._keys is None or now - self._fetched_at >= self._cache_seconds:
            if now - self._attempted_at >= self._cooldown:
                await self._refresh(attempted_before=self._attempted_at)
        elif kid not in self._keys:
            if now - self._unknown_kid_at >= self._cooldown:
                self._unknown_kid_at = now
                await self._refresh(attempted_before=self._attempted_at)
            else:
                skipped = now
        if self._keys is None or self._clock() - self._fetched_at >= 2 * self._cache_seconds:
            raise KeysUnavailable(f"JWK Set {self.url} unavailable")
        self._skipped_at = skipped  # after the last await: read by unknown_kid() before any other
        return self._keys

    def unknown_kid(self) -> tuple[str, dict[str, str]]:
        if self._skipped_at is None:
            return "not in the JWK Set as fetched", {"url": self.url}
        ago = self._skipped_at - self._unknown_kid_at
        return (f"not in the cached JWK Set, and not fetched again: it was fetched for an "
                f"unknown kid {ago:.0f} s ago, and CDS_JWKS_REFRESH_COOLDOWN_SECONDS="
                f"{self._cooldown:g} allows one such fetch per {self._cooldown:g} s"), \
            {"url": self.url, "setting": "CDS_JWKS_REFRESH_COOLDOWN_SECONDS"}

    async def _refresh(self, *, attempted_before: float) -> None:
        async with self._lock:
            if self._attempted_at != attempted_before:
                return  # another request refreshed while we waited for the lock
            self._attempted_at = self._clock()
            self.fetches += 1
            try:
                keys = KeySet.parse(self._as_jwk_set(await self._fetch()), source=self.url)
            except KeysUnavailable as exc:
                log.warning("JWK Set refresh failed", extra={"url": self.url,
                                                              "reason": str(exc)})
                return
            self._keys, self._fetched_at = keys, self._clock()
            log.info("JWK Set fetched (%d keys)", len(keys), extra={"url": self.url})

    def _as_jwk_set(self, document: Any) -> Any:
        """A bare JSON array of keys taken as the set it lists: the Da Vinci CRD request
        generator publishes its keys so. Said once per URL, since it is not the JWK Set that
        CDS Hooks 2.0 asks for (RFC 7517 §5); each key is checked as any other."""
        if not isinstance(document, list):
            return document
        if not self._bare_array_logged:
            self._bare_array_logged = True
            log.warning("the JWKS URL serves a bare JSON array of keys, not a JWK Set (an object "
                        "with a 'keys' array, as CDS Hooks 2.0 asks): taken as the set it lists",
                        extra={"url": self.url})
        return {"keys": [_unwrapped(key) for key in document]}

    async def _fetch(self) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http().stream(
                        "GET", self.url, headers={"Accept": "application/json"},
                        timeout=self._timeout) as response:
                    if response.status_code != 200:
                        raise KeysUnavailable(f"{self.url}: HTTP {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_JWKS_BYTES:
                            raise KeysUnavailable(f"{self.url}: larger than {MAX_JWKS_BYTES} bytes")
        except (TimeoutError, httpx2.TimeoutException):
            raise KeysUnavailable(f"{self.url}: timed out after {self._timeout}s") from None
        except httpx2.HTTPError as exc:
            raise KeysUnavailable(f"{self.url}: {exc.__class__.__name__}") from None
        try:
            return orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise KeysUnavailable(f"{self.url}: not JSON") from None


def _unwrapped(entry: Any) -> Any:
    """A key of the CRD request generator's list as the JWK it holds: its server stores each
    public key as ``{"pem": <JWK without kid>, "id": <kid>, "timestamp": ...}`` (HL7-DaVinci/
    crd-request-generator server.js ``POST /public_keys``, src/util/auth.js ``setupKeys``; the
    ``id`` is the RFC 7638 thumbprint its tokens name as ``kid``). Anything else is left as it
    is, to be checked as a JWK."""
    if isinstance(entry, dict) and "kty" not in entry and isinstance(entry.get("pem"), dict):
        return {"kid": entry.get("id"), **entry["pem"]}
    return entry
