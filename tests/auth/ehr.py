"""The EHR side of the trust tests: keys generated here, tokens signed as a CDS Client signs them,
a trust file naming the client, and the service started on it (auth on, production rules)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx2
import jwt
from fastapi.testclient import TestClient

from cds_service.auth.devclient import PrivateKey, generate_key, mint_token, public_jwk
from cds_service.config import Settings
from cds_service.main import create_app
from cds_service.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "fhir_examples" / "requests"
REFERENCE = ROOT.parent / "shared" / "reference" / "cds-hooks"

BASE = "https://cds.payer.example"
DISCOVERY_URL = f"{BASE}/cds-services"
SIGN_URL = f"{BASE}/cds-services/crd-order-sign"
ISS = "https://ehr.example.org"
FHIR = "https://ehr.example.org/fhir"
FHIR_TOKEN = "fhir-access-token-7c1e0b9d4f"  # searched for in the logs
SIGN_EXAMPLE = "order-sign-47383-commercial-hepatocellular-carcinoma"


@cache
def _key(alg: str, slot: int) -> PrivateKey:
    """Keys are made once per test session (RSA generation takes a while)."""
    return generate_key(alg)


@dataclass
class EHR:
    iss: str = ISS
    alg: str = "ES384"
    slot: int = 0
    kid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Further trust-entry members (tenant, jku, algorithms, ...)."""

    @property
    def key(self) -> PrivateKey:
        return _key(self.alg, self.slot)

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.key, self.alg, self.kid)

    def token(self, aud: str | list[str] = SIGN_URL, **kwargs: Any) -> str:
        return mint_token(self.key, iss=self.iss, kid=self.jwk["kid"], audience=aud,
                          alg=self.alg, **kwargs)

    def auth(self, aud: str | list[str] = SIGN_URL, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(aud, **kwargs)}"}

    def entry(self, **overrides: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"iss": self.iss, "jwks": {"keys": [self.jwk]},
                                 "fhir_servers": [FHIR], "algorithms": [self.alg]}
        entry.update(self.extra)
        entry.update(overrides)
        return entry


def write_trust(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"clients": list(entries)}))
    return path


def settings_for(tmp_path: Path, trust: Path | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production", "auth_enabled": True, "trusted_clients": trust,
        "public_base_url": BASE, "record_decisions": False,
        "database_url": f"sqlite:///{tmp_path / 'records.db'}",
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def serve(settings: Settings,
          fhir: Callable[[httpx2.Request], httpx2.Response] | None = None,
          ) -> Iterator[TestClient]:
    """The service on ``settings``; ``fhir`` is the fake outside world (FHIR servers, JWK Set
    URLs) as a plain function. Without it, outbound calls fail loudly."""
    transport = httpx2.MockTransport(fhir or _no_network)
    app = create_app(settings, Runtime.build(settings, transport=transport))
    with TestClient(app, base_url=BASE) as client:
        yield client


def _no_network(request: httpx2.Request) -> httpx2.Response:
    raise AssertionError(f"unexpected outbound request to {request.url.host}")


def example(name: str = SIGN_EXAMPLE) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{name}.json").read_text()))


def with_fhir_access(body: dict[str, Any], server: str = FHIR,
                     token: str = FHIR_TOKEN) -> dict[str, Any]:
    body["fhirServer"] = server
    body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer",
                                 "expires_in": 300, "scope": "user/Coverage.read",
                                 "subject": "cds-service"}
    return body


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(aud: str | list[str] = SIGN_URL, iss: str = ISS, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {"iss": iss, "aud": aud, "iat": now, "exp": now + 300,
                              "jti": str(uuid.uuid4())}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def decode_unverified(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))
