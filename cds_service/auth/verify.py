"""Verifying the CDS Client's JWT (CDS Hooks 2.0 §Trusting CDS Clients, and the security best
practices it links: allowlist ``iss``/``jku``, check ``aud``, ``exp``, ``tenant``, the signature,
and remember ``jti`` to stop replays).

Every failure is ``Unauthorized(reason)``: the caller gets a bare 401 OperationOutcome, the reason
goes to the log. Reasons never contain the token itself.

Order of checks: header (alg allowlist, kid) -> trusted issuer -> jku allowlist -> key by kid ->
signature, iss, aud (PyJWT) -> our own clock checks (exp, iat, nbf, lifetime; the clock is
injectable so the spec's 2015 example token can be verified) -> tenant -> jti replay, last, so a
token that fails any other check does not use up its jti.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx2
import jwt

from cds_service.auth.client import Authenticator, Client, DevelopmentNoAuth, PendingJti
from cds_service.auth.jwks import (
    SUPPORTED_ALGORITHMS,
    KeySource,
    KeysUnavailable,
    RemoteKeys,
    StaticKeys,
)
from cds_service.auth.replay import MemoryReplayStore, ReplayStore
from cds_service.auth.trust import TrustedClient, load_trust
from cds_service.config import Settings
from cds_service.errors import ConfigurationError, Unauthorized
from cds_service.logs import caller_id

log = logging.getLogger("cds_service.auth")

#: Far above any honest CDS Hooks JWT (~1 KB); parsing stops here.
MAX_TOKEN_CHARS = 8192
MAX_JTI_CHARS = 256
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]  # 2.0: all REQUIRED


class JwtAuthenticator:
    def __init__(self, clients: Sequence[TrustedClient], keys: Mapping[str, KeySource],
                 replay: ReplayStore, *, leeway_seconds: int, max_lifetime_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._clients = {c.iss: c for c in clients}
        self._keys = dict(keys)
        self._replay = replay
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._clock = clock

    async def authenticate(self, authorization: str | None, audiences: Sequence[str], *,
                           claim: bool = True) -> Client:
        token = _bearer_token(authorization)
        try:
            client, claims = await self._verify(token, audiences)
        except Unauthorized as exc:
            raise Unauthorized(_scrub(exc.reason, token), exc.category,
                               log_fields=exc.log_fields) from None
        except KeysUnavailable as exc:
            raise Unauthorized(str(exc), "key") from None
        except Exception as exc:  # any library or malformed-input error is a failed login
            raise Unauthorized(_scrub(f"{exc.__class__.__name__}: {exc}", token),
                               _category(exc)) from None
        # Outside the catch-all: a replay store that is down is our fault (500), not the caller's.
        expires_at = math.ceil(claims["exp"]) + self._leeway
        if claim and not await self._replay.first_use(client.iss, claims["jti"], expires_at):
            raise replayed(client.iss, claims["jti"])
        tenant = claims.get("tenant")
        log.debug("client authenticated", extra={"iss": client.iss, "jti": claims["jti"],
                                                 "tenant": tenant})
        return Client(iss=client.iss, tenant=tenant, jti=claims["jti"],
                      fhir_servers=client.fhir_servers, crd_version=client.crd_version,
                      pending=None if claim else PendingJti(client.iss, claims["jti"], expires_at))

    async def _verify(self, token: str, audiences: Sequence[str],
                      ) -> tuple[TrustedClient, dict[str, Any]]:
        # Header and claims read once, unverified, to find the client and its key.
        unverified_token = jwt.api_jwt.decode_complete(token, options={"verify_signature": False})
        header, unverified = unverified_token["header"], unverified_token["payload"]
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in SUPPORTED_ALGORITHMS:
            raise Unauthorized(f"alg {_alg(alg)} not allowed (asymmetric algorithms only)",
                               "algorithm")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("no kid in the JWT header (2.0: REQUIRED)", "malformed")
        typ = header.get("typ")
        if typ is not None and str(typ).upper() != "JWT":
            raise Unauthorized(f"typ {_digest(typ)} is not JWT", "malformed")

        iss = unverified.get("iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise Unauthorized(f"iss {_digest(iss)} is not a trusted client", "issuer")
        if alg not in client.algorithms:
            raise Unauthorized(f"alg {alg} not allowed for iss {client.iss!r}", "algorithm")
        jku = header.get("jku")
        if jku is not None and jku not in client.allowed_jku:
            # Never fetched: keys come only from the trust file's jwks or jwks_url.
            raise Unauthorized(f"jku not allowlisted for iss {client.iss!r} (jku {_digest(jku)})",
                               "key")

        source = self._keys[client.iss]
        keys = await source.key_set(kid)
        if kid not in keys:
            why, fields = source.unknown_kid()
            raise Unauthorized(f"unknown kid {_digest(kid)} for iss {client.iss!r}: {why}", "key",
                               log_fields=fields)
        try:
            key = keys.key(kid, alg)
        except ValueError as exc:  # the key is for another algorithm
            raise Unauthorized(f"{exc} (iss {client.iss!r})", "key") from None

        accepted = [*audiences, *(a + "/" for a in audiences)]  # trailing slash: same endpoint
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(client.algorithms), audience=accepted,
                issuer=client.iss, options={"require": REQUIRED_CLAIMS, "verify_exp": False,
                                            "verify_iat": False, "verify_nbf": False})
        except jwt.InvalidAudienceError:
            # Raised only after the signature verified: the aud is a trusted client's claim.
            # Integrators most often get CDS_PUBLIC_BASE_URL and their aud out of step.
            received = unverified.get("aud")
            raise Unauthorized(
                f"aud {_show(received)} is not the URL of the endpoint called "
                f"({', '.join(audiences)}; built from CDS_PUBLIC_BASE_URL)", "audience",
                log_fields={"expected_aud": list(audiences), "received_aud": _show(received)},
            ) from None
        self._check_times(claims)
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
            raise Unauthorized(f"jti must be a string of 1 to {MAX_JTI_CHARS} characters",
                               "claims")
        tenant = claims.get("tenant")
        if tenant is not None and not (isinstance(tenant, str) and 0 < len(tenant) <= 256):
            raise Unauthorized("tenant must be a string of 1 to 256 characters", "claims")
        if client.tenant is not None and tenant != client.tenant:
            raise Unauthorized(f"tenant {_digest(tenant)} not allowed for iss {client.iss!r}",
                               "claims")
        return client, claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now, leeway = self._clock(), self._leeway
        exp, iat = _numeric(claims, "exp"), _numeric(claims, "iat")
        if exp <= now - leeway:
            raise Unauthorized(f"expired {now - exp:.0f}s ago", "expired")
        if iat > now + leeway:
            raise Unauthorized(f"iat {iat - now:.0f}s in the future", "not-yet-valid")
        if "nbf" in claims and _numeric(claims, "nbf") > now + leeway:
            raise Unauthorized("nbf in the future", "not-yet-valid")
        if exp <= iat:
            raise Unauthorized("exp is not after iat", "lifetime")
        if exp - iat > self._max_lifetime:
            raise Unauthorized(f"lifetime {exp - iat:.0f}s over the {self._max_lifetime}s limit",
                               "lifetime")


def build_authenticator(settings: Settings, replay: ReplayStore,
                        http: Callable[[], httpx2.AsyncClient]) -> Authenticator:
    """The authenticator the settings ask for; refuses what production must not run with."""
    if not settings.auth_enabled:
        if not settings.is_development:
            raise ConfigurationError("CDS_AUTH_ENABLED=false", [
                "authentication can be turned off only with CDS_ENVIRONMENT=development; "
                "in production every EHR must present a signed JWT (CDS Hooks 2.0 "
                "§Trusting CDS Clients). Configure CDS_TRUSTED_CLIENTS instead."])
        log.warning("AUTHENTICATION IS OFF (CDS_AUTH_ENABLED=false, development): any caller is "
                    "accepted and may make this service query any FHIR server. Never expose "
                    "this instance to patient data.")
        return DevelopmentNoAuth()
    clients = load_trust(settings)
    if not clients:
        raise ConfigurationError("CDS_TRUSTED_CLIENTS", [
            "authentication is on but no client is trusted: name a trust file in "
            "CDS_TRUSTED_CLIENTS (for local use: `cds-service dev-client init`), or set "
            "CDS_TRUST_SANDBOX=true for the CDS Hooks sandbox"])
    keys: dict[str, KeySource] = {}
    for client in clients:
        if client.jwks_url is not None:
            keys[client.iss] = RemoteKeys(
                client.jwks_url, http, cache_seconds=settings.jwks_cache_seconds,
                cooldown_seconds=settings.jwks_refresh_cooldown_seconds,
                timeout_seconds=settings.fhir_timeout_seconds)
        else:
            keys[client.iss] = StaticKeys(client.inline_keys())
    log.info("trusting %d client(s): %s", len(clients), ", ".join(sorted(c.iss for c in clients)))
    return JwtAuthenticator(clients, keys, replay, leeway_seconds=settings.jwt_leeway_seconds,
                            max_lifetime_seconds=settings.jwt_max_lifetime_seconds)


def check_trust(settings: Settings) -> None:
    """What ``build_authenticator`` would refuse, checked once by ``serve`` before it forks
    workers (no network: fetched key sets are fetched when first used)."""

    def no_http() -> httpx2.AsyncClient:
        raise RuntimeError("no outbound HTTP while checking the settings")

    build_authenticator(settings, MemoryReplayStore(), no_http)


def replayed(iss: str, jti: str) -> Unauthorized:
    # The iss is a trusted client's (the token verified); the jti is the caller's choice, shown
    # as the log shows every jti (logs.caller_id: a UUID as it is, else its digest).
    return Unauthorized(f"jti {caller_id(jti)} of iss {iss!r} replayed", "replay")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("no Authorization header", "missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("Authorization header is not 'Bearer <JWT>'", "malformed")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized(f"token longer than {MAX_TOKEN_CHARS} characters", "malformed")
    return token


def _category(exc: Exception) -> str:
    """The rejection metric's label for PyJWT's own errors (signature, audience, format)."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return "signature"
    if isinstance(exc, jwt.InvalidAudienceError | jwt.InvalidIssuerError):
        return "audience" if isinstance(exc, jwt.InvalidAudienceError) else "issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "claims"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm"
    return "malformed"


def _numeric(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(f"{name} must be a NumericDate", "claims")
    return float(value)


JWS_ALGORITHMS = frozenset({
    "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
    "PS256", "PS384", "PS512", "EdDSA", "ES256K"})
"""Registered JWS ``alg`` names (RFC 7518 §3.1, RFC 8037, RFC 8812): our words, not the
caller's, so a refused one is named in the log."""


def _alg(value: object) -> str:
    return repr(value) if value in JWS_ALGORITHMS else _digest(value)


def _digest(value: object) -> str:
    """A header or claim value read before anything vouches for it, as the log may show it: its
    digest and length only, whatever it looks like (an attacker chooses it: a URL or an id can
    carry a patient's name as well as free text can). An integrator finds theirs by hashing
    the value they sent (``printf %s VALUE | sha256sum``: the first 12 digits)."""
    text = value if isinstance(value, str) else repr(value)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"<{len(text)} characters, sha256:{digest}>"


def _show(value: object) -> str:
    """An attacker-chosen header or claim value as the log may show it: an identifier-like
    string (an issuer URL, a kid, a UUID) as it is, so an integrator can see which one was
    refused; anything else (free text could be a patient's name) only as its length and a
    digest (issue 12: no caller text in the log)."""
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
        return repr(value)
    text = value if isinstance(value, str) else repr(value)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"<{len(text)} characters, sha256:{digest}>"


_IDENTIFIER = re.compile(r"[A-Za-z0-9:/._~%+=@-]{1,128}")


def _scrub(reason: str, token: str) -> str:
    """Defence in depth: no part of the token reaches the log, whatever a library put in its
    message (signature and payload segments are the sensitive ones)."""
    for part in (token, *token.split(".")):
        if len(part) >= 8:
            reason = reason.replace(part, "[token]")
    return reason[:500]
