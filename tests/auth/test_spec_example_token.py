"""The JWT from the CDS Hooks 2.0.1 specification (§Trusting CDS Clients, example) against its
published JWK Set: expired today, valid at the moment it was issued (the verifier's clock is
injectable). Its aud is the spec's example service URL, so the settings use the spec's base URL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cds_service.auth.client import Client
from cds_service.auth.jwks import StaticKeys
from cds_service.auth.replay import MemoryReplayStore
from cds_service.auth.trust import TrustedClient
from cds_service.auth.verify import JwtAuthenticator
from cds_service.config import Settings
from cds_service.errors import Unauthorized
from tests.auth.ehr import REFERENCE
from tests.support import require_shared

SPEC = REFERENCE / "extracted-from-spec"
require_shared(SPEC)
ISSUED_AT = 1311280970  # the example's iat
EXPIRES_AT = 1422568860  # its exp


def spec_example() -> tuple[str, dict[str, object]]:
    token = json.loads((SPEC / "spec2.0.1_jwt-compact.json").read_text())["jwt"]
    return token, json.loads((SPEC / "spec2.0.1_jwks-public.json").read_text())


def authenticator(clock: float | None) -> tuple[JwtAuthenticator, str]:
    _, jwks = spec_example()
    # The example's lifetime (exp - iat) is about 3.5 years; allow it for this vector only.
    settings = Settings(public_base_url="https://cds.example.org",
                        jwt_max_lifetime_seconds=EXPIRES_AT - ISSUED_AT)
    client = TrustedClient(iss="https://fhir-ehr.example.com/", jwks=jwks,
                           jku=("https://fhir-ehr.example.com/jwk_uri",), algorithms=("ES384",))
    verifier = JwtAuthenticator(
        [client], {client.iss: StaticKeys(client.inline_keys())}, MemoryReplayStore(),
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        **({"clock": lambda: clock} if clock is not None else {}))
    return verifier, settings.service_url("cds-services/some-service")


def test_the_spec_example_token_is_refused_as_expired() -> None:
    token, _ = spec_example()
    verifier, audience = authenticator(clock=None)
    with pytest.raises(Unauthorized) as refused:
        asyncio.run(verifier.authenticate(f"Bearer {token}", [audience]))
    assert refused.value.reason.startswith("expired")


def test_the_spec_example_token_verifies_at_its_issue_time() -> None:
    token, _ = spec_example()
    verifier, audience = authenticator(clock=ISSUED_AT + 5)
    client = asyncio.run(verifier.authenticate(f"Bearer {token}", [audience]))
    assert client == Client(iss="https://fhir-ehr.example.com/",
                            tenant="2ddd6c3a-8e9a-44c6-a305-52111ad302a2",
                            jti="ee22b021-e1b7-4611-ba5b-8eec6a33ac1e")


def test_the_spec_example_token_is_refused_for_another_service() -> None:
    token, _ = spec_example()
    verifier, _ = authenticator(clock=ISSUED_AT + 5)
    with pytest.raises(Unauthorized):
        asyncio.run(verifier.authenticate(f"Bearer {token}",
                                          ["https://cds.example.org/cds-services"]))


def test_the_reference_files_are_where_the_tests_expect_them() -> None:
    assert Path(SPEC / "spec2.0.1_jwt-compact.json").is_file()
