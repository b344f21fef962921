"""Keys fetched from a client's allowlisted jwks_url: cached, refreshed on an unknown kid (key
rotation) at most once per cooldown, and never fetched from a jku that is not allowlisted."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx2
import pytest

from cds_service.errors import ConfigurationError
from cds_service.runtime import Runtime
from tests.auth.ehr import EHR, example, serve, settings_for, write_trust

JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
SIGN = "/cds-services/crd-order-sign"


class KeyServer:
    """The EHR's key server as a plain function for httpx2.MockTransport."""

    def __init__(self, *ehrs: EHR) -> None:
        self.keys = [e.jwk for e in ehrs]
        self.status = 200
        self.bare = False  # the keys as a bare JSON array, as the CRD request generator serves
        self.requests: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(str(request.url))
        if str(request.url) != JWKS_URL:
            return httpx2.Response(404)
        if self.status != 200:
            return httpx2.Response(self.status)
        return httpx2.Response(200, json=self.keys if self.bare else {"keys": self.keys})


def entry(ehr: EHR, **extra: Any) -> dict[str, Any]:
    values = ehr.entry(jwks_url=JWKS_URL, **extra)
    del values["jwks"]
    return values


def post(service: Any, ehr: EHR, **token: Any) -> int:
    response = service.post(SIGN, json=example(), headers=ehr.auth(**token))
    return int(response.status_code)


def test_keys_are_fetched_once_and_cached(tmp_path: Path) -> None:
    ehr = EHR()
    keys = KeyServer(ehr)
    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), keys) as service:
        assert [post(service, ehr) for _ in range(3)] == [200, 200, 200]
    assert keys.requests == [JWKS_URL]


def test_a_rotated_key_is_picked_up_by_refetching(tmp_path: Path) -> None:
    old, new = EHR(), EHR(slot=1)
    keys = KeyServer(old)
    trust = write_trust(tmp_path / "trust.json", entry(old))
    settings = settings_for(tmp_path, trust, jwks_refresh_cooldown_seconds=0)
    with serve(settings, keys) as service:
        assert post(service, old) == 200
        keys.keys = [old.jwk, new.jwk]  # the EHR publishes its next key
        assert post(service, new) == 200
    assert keys.requests == [JWKS_URL, JWKS_URL]


def test_a_key_rotated_right_after_the_first_fetch_is_picked_up_at_once(tmp_path: Path) -> None:
    # The default 30 s cooldown, and the rotation well within it: no outage for the client.
    old, new = EHR(), EHR(slot=1)
    keys = KeyServer(old)
    trust = write_trust(tmp_path / "trust.json", entry(old))
    with serve(settings_for(tmp_path, trust, jwks_refresh_cooldown_seconds=30), keys) as service:
        assert post(service, old) == 200
        keys.keys = [new.jwk]  # the EHR rotates: the old key is gone
        assert post(service, new) == 200
        assert post(service, old) == 401  # the set now fetched no longer has it
    assert keys.requests == [JWKS_URL, JWKS_URL]


def test_unknown_kids_refetch_at_most_once_per_cooldown(tmp_path: Path) -> None:
    ehr, stranger_key = EHR(), EHR(slot=1, kid="invented")
    keys = KeyServer(ehr)
    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust, jwks_refresh_cooldown_seconds=30), keys) as service:
        assert post(service, ehr) == 200
        assert [post(service, stranger_key) for _ in range(5)] == [401] * 5
        assert post(service, ehr) == 200
    # The first invented kid fetched at once (it might have been a rotation); the others waited.
    assert keys.requests == [JWKS_URL, JWKS_URL]


def test_a_key_server_that_fails_means_401(tmp_path: Path) -> None:
    ehr = EHR()
    keys = KeyServer(ehr)
    keys.status = 503
    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), keys) as service:
        assert post(service, ehr) == 401


def test_a_key_server_that_cannot_be_reached_means_401(tmp_path: Path) -> None:
    ehr = EHR()

    def refused(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), refused) as service:
        assert post(service, ehr) == 401


def test_a_key_set_without_usable_keys_means_401(tmp_path: Path) -> None:
    ehr = EHR()

    def symmetric_only(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"keys": [{"kty": "oct", "kid": ehr.jwk["kid"],
                                                    "k": "c2VjcmV0"}]})

    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), symmetric_only) as service:
        assert post(service, ehr) == 401


def test_the_jwks_url_is_an_allowed_jku(tmp_path: Path) -> None:
    ehr = EHR()
    keys = KeyServer(ehr)
    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), keys) as service:
        assert post(service, ehr, jku=JWKS_URL) == 200
        assert post(service, ehr, jku="https://elsewhere.example/jwks.json") == 401
    assert keys.requests == [JWKS_URL]


def test_a_plain_http_jwks_url_is_refused_in_production(tmp_path: Path) -> None:
    trust = write_trust(tmp_path / "trust.json",
                        entry(EHR()) | {"jwks_url": "http://ehr.example.org/jwks.json"})
    with pytest.raises(ConfigurationError) as raised:
        Runtime.build(settings_for(tmp_path, trust))
    assert "clients.0.jwks_url: must be https outside development" in str(raised.value)
    assert str(trust) in str(raised.value)


def test_the_jwks_is_fetched_with_the_shared_client(tmp_path: Path) -> None:
    ehr = EHR()
    seen: list[httpx2.Request] = []

    def server(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=json.dumps({"keys": [ehr.jwk]}))

    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), server) as service:
        assert post(service, ehr) == 200
    assert seen[0].headers["accept"] == "application/json"
    assert "authorization" not in seen[0].headers


def log_lines(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name.startswith("cds_service") and message in r.getMessage()]


def test_a_kid_refused_because_the_cooldown_skipped_the_refetch_names_the_setting(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Once said only "unknown kid": an operator could not tell a stranger's key from a rotation
    the cooldown had not let us fetch yet."""
    ehr, rotated = EHR(), EHR(slot=1, kid="rotated")
    keys = KeyServer(ehr)
    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust, jwks_refresh_cooldown_seconds=30), keys) as service, \
            caplog.at_level(logging.INFO, "cds_service"):
        assert post(service, ehr) == 200
        assert post(service, EHR(slot=2, kid="first-unknown")) == 401  # fetched again at once
        keys.keys = [ehr.jwk, rotated.jwk]
        assert post(service, rotated) == 401  # within the cooldown: not fetched
    fetched, skipped = log_lines(caplog, "authentication failed")
    assert "not in the JWK Set as fetched" in fetched.reason  # type: ignore[attr-defined]
    assert not hasattr(fetched, "setting")
    assert "not fetched again" in skipped.reason  # type: ignore[attr-defined]
    assert "CDS_JWKS_REFRESH_COOLDOWN_SECONDS=30" in skipped.reason  # type: ignore[attr-defined]
    assert skipped.setting == "CDS_JWKS_REFRESH_COOLDOWN_SECONDS"  # type: ignore[attr-defined]
    assert keys.requests == [JWKS_URL, JWKS_URL]


def test_a_jwks_url_serving_a_bare_array_of_keys_is_accepted_and_said_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The Da Vinci CRD request generator publishes its keys as a JSON array, not a JWK Set."""
    ehr, rotated = EHR(), EHR(slot=1)
    keys = KeyServer(ehr)
    keys.bare = True
    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    settings = settings_for(tmp_path, trust, jwks_refresh_cooldown_seconds=0)
    with serve(settings, keys) as service, caplog.at_level(logging.INFO, "cds_service"):
        assert post(service, ehr) == 200
        keys.keys = [ehr.jwk, rotated.jwk]
        assert post(service, rotated) == 200  # fetched again: still an array
        assert post(service, EHR(slot=2)) == 401  # an array grants nothing a set would not
    assert len(keys.requests) == 3
    [said] = log_lines(caplog, "bare JSON array")
    assert said.levelno == logging.WARNING and said.url == JWKS_URL  # type: ignore[attr-defined]


@pytest.mark.parametrize("document", [[{"kty": "oct", "k": "c2VjcmV0"}], [], ["not a key"]])
def test_a_bare_array_without_usable_keys_means_401(tmp_path: Path, document: list[Any]) -> None:
    ehr = EHR()

    def served(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=document)

    trust = write_trust(tmp_path / "trust.json", entry(ehr))
    with serve(settings_for(tmp_path, trust), served) as service:
        assert post(service, ehr) == 401
