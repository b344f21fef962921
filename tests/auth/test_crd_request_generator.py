"""The Da Vinci CRD request generator as docs/integrating.md describes it, calling the service the
way its source does (HL7-DaVinci/crd-request-generator: src/util/auth.js signs, buildRequest.js
builds the call, server.js publishes the keys): an RS256 key made at page load, a token valid for
a day whose iss is the EHR's FHIR server, a key list that is a bare array of wrapped keys, an
empty access token for an open FHIR server, and the member's Coverage under `coverageBundle`."""

from __future__ import annotations

import json
import random
import string
import time
from pathlib import Path
from typing import Any

import httpx2
import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from cds_service.auth.devclient import thumbprint
from tests.auth.ehr import BASE, serve, settings_for
from tests.support import ROOT

EHR_SERVER = "http://localhost:8080/test-ehr/r4"  # the generator's default "EHR Server"
KEYS_URL = "http://localhost:3000/public_keys"  # its default public keys URL
SIGN_URL = f"{BASE}/cds-services/crd-order-sign"
RESOURCES = ROOT / "fhir_examples" / "resources"
DAY = 86400  # auth.js: exp is KJUR.jws.IntDate.get('now + 1day')


def docs_trust_entry() -> dict[str, Any]:
    """The trust-file entry docs/integrating.md gives for the generator."""
    page = (ROOT / "docs" / "integrating.md").read_text()
    section = page[page.index("## The Da Vinci CRD request generator"):]
    block = section[section.index("```yaml\n") + 8:]
    [entry] = yaml.safe_load(block[:block.index("```")])["clients"]
    assert isinstance(entry, dict)
    return entry


class Generator:
    """One page load of the generator: its key pair and what it publishes."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.public = {name: public[name] for name in ("kty", "n", "e")}  # jsrsasign's JWK
        self.kid = thumbprint(self.public)

    def published(self) -> list[dict[str, Any]]:
        """GET /public_keys: every key posted, as server.js stores it."""
        return [{"pem": self.public, "id": self.kid, "timestamp": "2026-12-07T10:00:00.000Z"}]

    def token(self, aud: str = SIGN_URL) -> str:
        now = int(time.time())
        jti = "".join(random.choices(string.ascii_letters + string.digits + "-._~", k=128))
        return jwt.encode({"iss": EHR_SERVER, "aud": aud, "iat": now, "exp": now + DAY,
                           "jti": jti}, self.key, algorithm="RS256",
                          headers={"typ": "JWT", "kid": self.kid, "jku": KEYS_URL})

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


def resource(name: str) -> dict[str, Any]:
    return dict(json.loads((RESOURCES / f"{name}.json").read_text()))


def searchset_entries(*resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"fullUrl": f"{EHR_SERVER}/{r['resourceType']}/{r['id']}", "resource": r,
             "search": {"mode": "match"}} for r in resources]


def generator_request(*, prefetch: bool = True) -> dict[str, Any]:
    """buildRequest.js for order-sign, with an open EHR server (empty access token)."""
    patient, order = resource("Patient-pat-cryo-1"), resource("ServiceRequest-sr-47383")
    body: dict[str, Any] = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": EHR_SERVER,
        "hook": "order-sign",
        "fhirAuthorization": {"access_token": "", "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/Patient.read patient/Observation.read",
                              "subject": "cds-service4"},
        "context": {"userId": "Practitioner/example", "patientId": patient["id"],
                    "encounterId": "enc89284",
                    "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]}},
        "extension": {"davinci-crd.configuration": {"alt-drug": True}},
    }
    if prefetch:
        body["prefetch"] = {
            "serviceRequestBundle": {"resourceType": "Bundle", "type": "collection",
                                     "entry": searchset_entries(order, patient)},
            "coverageBundle": {"resourceType": "Bundle", "type": "collection",
                               "entry": searchset_entries(resource("Coverage-cov-commercial"))},
        }
    return body


class EHRWorld:
    """The generator's key server; any query to the EHR's FHIR server is recorded."""

    def __init__(self, generator: Generator) -> None:
        self.keys = generator.published()
        self.fhir_queries: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if str(request.url) == KEYS_URL:
            return httpx2.Response(200, json=self.keys)
        self.fhir_queries.append(str(request.url))
        return httpx2.Response(500)


def trust_file(tmp_path: Path, generator: Generator, *, inline: bool) -> Path:
    """The docs' entry; ``inline``: the key written in, to test the rest apart from the key
    list's format."""
    entry = docs_trust_entry()
    if inline:  # its tokens still name the key list as their jku
        entry["jku"] = [entry.pop("jwks_url")]
        entry["jwks"] = {"keys": [{**generator.public, "kid": generator.kid}]}
    path = tmp_path / "crd-generator.yaml"
    path.write_text(yaml.safe_dump({"clients": [entry]}))
    return path


def test_the_docs_entry_names_the_generators_issuer_keys_and_algorithm() -> None:
    entry = docs_trust_entry()
    assert entry == {"iss": EHR_SERVER, "jwks_url": KEYS_URL, "algorithms": ["RS256"]}


def test_its_day_long_token_needs_the_documented_lifetime_setting(tmp_path: Path) -> None:
    generator = Generator()
    trust = trust_file(tmp_path, generator, inline=True)
    with serve(settings_for(tmp_path, trust, environment="development")) as service:
        refused = service.post("/cds-services/crd-order-sign", json=generator_request(),
                               headers=generator.auth())
    assert refused.status_code == 401
    assert 'error_description="lifetime"' in refused.headers["www-authenticate"]
    settings = settings_for(tmp_path, trust, environment="development",
                            jwt_max_lifetime_seconds=DAY)
    with serve(settings, EHRWorld(generator)) as service:
        answered = service.post("/cds-services/crd-order-sign", json=generator_request(),
                                headers=generator.auth())
    assert answered.status_code != 401, answered.headers.get("www-authenticate")
    assert "www-authenticate" not in answered.headers


def test_an_empty_access_token_means_the_open_ehr_server_is_never_queried(
        tmp_path: Path) -> None:
    generator = Generator()
    world = EHRWorld(generator)
    settings = settings_for(tmp_path, trust_file(tmp_path, generator, inline=True),
                            environment="development", jwt_max_lifetime_seconds=DAY)
    with serve(settings, world) as service:
        for prefetch in (True, False):
            service.post("/cds-services/crd-order-sign",
                         json=generator_request(prefetch=prefetch), headers=generator.auth())
    assert world.fhir_queries == []


def test_the_call_is_answered_from_its_prefetch_with_the_coverage_bundle(tmp_path: Path) -> None:
    generator = Generator()
    settings = settings_for(tmp_path, trust_file(tmp_path, generator, inline=True),
                            environment="development", jwt_max_lifetime_seconds=DAY)
    with serve(settings, EHRWorld(generator)) as service:
        response = service.post("/cds-services/crd-order-sign", json=generator_request(),
                                headers=generator.auth())
    assert response.status_code == 200, response.text
    answer = response.json()
    [action] = answer["systemActions"]
    assert '"reference": "Coverage/cov-commercial"' in json.dumps(action["resource"]["extension"])
    [card] = answer["cards"]
    assert "Commercial member" in card["summary"]


def test_without_send_prefetch_the_answer_names_the_missing_coverage(tmp_path: Path) -> None:
    generator = Generator()
    settings = settings_for(tmp_path, trust_file(tmp_path, generator, inline=True),
                            environment="development", jwt_max_lifetime_seconds=DAY)
    with serve(settings, EHRWorld(generator)) as service:
        response = service.post("/cds-services/crd-order-sign",
                                json=generator_request(prefetch=False), headers=generator.auth())
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.coverage"]


def test_its_key_list_is_read_at_the_documented_jwks_url(tmp_path: Path) -> None:
    earlier, generator = Generator(), Generator()  # a page loaded before: its key stays listed
    world = EHRWorld(generator)
    world.keys = earlier.published() + generator.published()
    settings = settings_for(tmp_path, trust_file(tmp_path, generator, inline=False),
                            environment="development", jwt_max_lifetime_seconds=DAY)
    with serve(settings, world) as service:
        answers = [service.post("/cds-services/crd-order-sign", json=generator_request(),
                                headers=g.auth()) for g in (generator, earlier)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].headers
    assert world.fhir_queries == []


def test_a_key_list_entry_that_is_no_key_is_not_trusted(tmp_path: Path) -> None:
    generator = Generator()
    world = EHRWorld(generator)
    world.keys = [{"pem": {**generator.public, "d": "private"}, "id": generator.kid}]
    settings = settings_for(tmp_path, trust_file(tmp_path, generator, inline=False),
                            environment="development", jwt_max_lifetime_seconds=DAY)
    with serve(settings, world) as service:
        answer = service.post("/cds-services/crd-order-sign", json=generator_request(),
                              headers=generator.auth())
    assert answer.status_code == 401
    assert 'error_description="key"' in answer.headers["www-authenticate"]
