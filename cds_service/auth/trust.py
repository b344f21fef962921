"""Which CDS Clients (EHRs) we trust: the trust file named by ``CDS_TRUSTED_CLIENTS`` and, with
``CDS_TRUST_SANDBOX=true``, the public CDS Hooks sandbox.

CDS Hooks 2.0 §Trusting CDS Clients: "CDS Services SHOULD limit the CDS Clients they trust by
maintaining an allowlist of iss and jku urls". Each entry names one issuer, where its keys come
from (inline ``jwks`` or an allowlisted ``jwks_url``), the ``jku`` values its tokens may carry,
an optional ``tenant`` its tokens must carry, and the FHIR servers it may send us to with an
access token (§FHIR Resource Access; anything else would let a caller aim our requests, and its
user's token, anywhere). JSON or YAML::

    clients:
      - iss: https://ehr.example.org
        jwks_url: https://ehr.example.org/.well-known/jwks.json
        tenant: 2ddd6c3a-8e9a-44c6-a305-52111ad302a2
        fhir_servers: [https://ehr.example.org/fhir]
        algorithms: [ES384, RS384]
        crd_version: "2.0"      # optional: its calls without davinci-crd.requestedVersion

A bad file stops start-up with a ``ConfigurationError`` naming the file and the field.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_service.auth.jwks import SUPPORTED_ALGORITHMS, KeySet, key_problems
from cds_service.config import Settings
from cds_service.crd_versions import declared_versions, named
from cds_service.datafiles import load_model
from cds_service.errors import ConfigurationError

log = logging.getLogger("cds_service.auth")

DEFAULT_ALGORITHMS = ("ES384", "RS384")  # 2.0 §JWT Signing Algorithm: both RECOMMENDED

# The CDS Hooks sandbox signs with the key in sandbox-jwks.json (a copy of its public JWK Set;
# source in that file and in docs/integrating.md) and names it with this iss and jku
# (cds-hooks/sandbox src/retrieve-data-helpers/jwt-generator.js).
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def _http_url(value: str, *, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or fragment, got {value!r}")
    return value


class TrustedClient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1, max_length=512)
    """Compared exactly with the token's ``iss``."""
    jwks: dict[str, Any] | None = None
    """The client's public JWK Set, written here (exchanged out of band)."""
    jwks_url: str | None = None
    """Where we fetch the client's JWK Set; also an allowed ``jku``."""
    jku: tuple[str, ...] = ()
    """Further ``jku`` header values this client's tokens may carry. Never fetched: keys come
    only from ``jwks`` or ``jwks_url``."""
    tenant: str | None = Field(default=None, min_length=1)
    """When set, the token's ``tenant`` claim must equal it."""
    fhir_servers: tuple[str, ...] = ()
    """fhirServer base URLs we may query with this client's access tokens (no trailing ``/``)."""
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    crd_version: str | None = None
    """The Da Vinci CRD version this client speaks ("2.0", "2.1", "2.2", or a full release such
    as "2.0.1"), used when its calls carry no ``davinci-crd.requestedVersion``."""

    @field_validator("crd_version")
    @classmethod
    def _crd_version(cls, value: str | None) -> str | None:
        if value is not None and named(value) is None:
            raise ValueError(f"{value!r} is not a Da Vinci CRD version this service answers "
                             f"({', '.join(declared_versions())})")
        return value

    @field_validator("jwks")
    @classmethod
    def _usable_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        keys = value.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("must be a JWK Set: an object with a non-empty 'keys' array")
        problems = [f"keys[{i}] {p}" for i, k in enumerate(keys) for p in key_problems(k)]
        kids = [k.get("kid") for k in keys if isinstance(k, dict)]
        problems += [f"kid {kid!r} appears more than once (2.0: kid MUST be unique)"
                     for kid in sorted({k for k in kids if kids.count(k) > 1}, key=str)]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, what="jwks_url")

    @field_validator("jku")
    @classmethod
    def _jku(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_http_url(v, what="jku") for v in value)

    @field_validator("fhir_servers")
    @classmethod
    def _fhir_servers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_http_url(v, what="fhir_servers entry").rstrip("/") for v in value)

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = [a for a in value if a not in SUPPORTED_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(map(repr, refused))} not allowed: only asymmetric algorithms "
                f"({', '.join(sorted(SUPPORTED_ALGORITHMS))}); 2.0 forbids 'none' and HMAC")
        if not value:
            raise ValueError("at least one algorithm is required")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedClient:
        if (self.jwks is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks (inline keys) or jwks_url (fetched keys)")
        return self

    @property
    def allowed_jku(self) -> frozenset[str]:
        return frozenset(self.jku) | ({self.jwks_url} if self.jwks_url else set())

    def inline_keys(self) -> KeySet:
        assert self.jwks is not None
        return KeySet(self.jwks["keys"])


class TrustFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: list[TrustedClient]

    @model_validator(mode="after")
    def _unique_issuers(self) -> TrustFile:
        seen: set[str] = set()
        for client in self.clients:
            if client.iss in seen:
                raise ValueError(f"iss {client.iss!r} appears more than once")
            seen.add(client.iss)
        return self


def sandbox_client() -> TrustedClient:
    """The CDS Hooks sandbox: its tokens only (ES384, its jku); no FHIR server is allowlisted, as
    the sandbox lets its user pick any (list one in a trust-file entry for the sandbox's iss)."""
    text = resources.files("cds_service.auth").joinpath("sandbox-jwks.json").read_text("utf-8")
    return TrustedClient(iss=SANDBOX_ISS, jwks={"keys": json.loads(text)["keys"]},
                         jku=(SANDBOX_JKU,), algorithms=("ES384",))


def load_trust(settings: Settings) -> list[TrustedClient]:
    """Every trusted client: the trust file's, then the sandbox (unless the file names it)."""
    clients: list[TrustedClient] = []
    if settings.trusted_clients is not None:
        path = settings.trusted_clients
        clients = list(load_model(TrustFile, path).clients)
        if not settings.is_development:
            _check_production(clients, str(path))
    if settings.trust_sandbox:
        if any(c.iss == SANDBOX_ISS for c in clients):
            log.info("CDS_TRUST_SANDBOX: the trust file's entry for the sandbox is used")
        else:
            clients.append(sandbox_client())
    return clients


def _check_production(clients: list[TrustedClient], source: str) -> None:
    # 2.0 §Security and Safety: production exchanges run over TLS ("MUST be https when
    # production data is exchanged"). Keys fetched over plain http could be swapped on the way,
    # and a plain-http FHIR server would receive the user's access token in clear: both refused,
    # so a trust file made for development (a local http FHIR server) cannot slip into production.
    problems = [f"clients.{i}.jwks_url: must be https outside development"
                for i, c in enumerate(clients)
                if c.jwks_url and not c.jwks_url.startswith("https://")]
    problems += [f"clients.{i}.fhir_servers.{j}: {url!r} must be https outside development "
                 "(the EHR's access token would travel in clear); list http servers only in a "
                 "trust file for CDS_ENVIRONMENT=development"
                 for i, c in enumerate(clients)
                 for j, url in enumerate(c.fhir_servers) if not url.startswith("https://")]
    if problems:
        raise ConfigurationError(source, problems)
