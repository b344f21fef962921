"""Missing prefetch (CDS Hooks 2.0 §Prefetch Template, §FHIR Resource Access), through the HTTP
API: what the service fetches from the EHR's FHIR server, with which token, and when it answers
412 instead. The EHR's FHIR server is a plain function behind httpx2.MockTransport."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest

from cds_service.api.hooks import parse_request
from cds_service.auth.client import Client
from cds_service.fhir.client import fetcher_for
from tests.auth.ehr import (
    EHR,
    FHIR,
    FHIR_TOKEN,
    example,
    serve,
    settings_for,
    with_fhir_access,
    write_trust,
)

SIGN = "/cds-services/crd-order-sign"
RESOURCES = Path(__file__).resolve().parents[2] / "fhir_examples" / "resources"


def resource(name: str) -> dict[str, Any]:
    return dict(json.loads((RESOURCES / f"{name}.json").read_text()))


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"fullUrl": f"{FHIR}/{r['resourceType']}/{r['id']}", "resource": r,
                   "search": {"mode": "match"}} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "self", "url": f"{FHIR}/Coverage?page=1"},
                          {"relation": "next", "url": next_url}]
    return bundle


class FhirServer:
    """Answers Coverage searches with the member's commercial Coverage; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.answer(request)

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/fhir/Coverage":
            return httpx2.Response(200, json=searchset(resource("Coverage-cov-commercial")),
                                   headers={"Content-Type": "application/fhir+json"})
        return httpx2.Response(404)


def without_coverage(**changes: Any) -> dict[str, Any]:
    body = with_fhir_access(example())
    del body["prefetch"]["coverage"]
    body.update(changes)
    return body


def post(tmp_path: Path, trust: Path, body: dict[str, Any], fhir: Any,
         **settings: Any) -> httpx2.Response:
    with serve(settings_for(tmp_path, trust, **settings), fhir) as service:
        return service.post(SIGN, json=body, headers=EHR().auth())


def assert_412(response: httpx2.Response, mentions: str) -> None:
    assert response.status_code == 412, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert mentions in json.dumps(outcome), outcome


def assert_decided_on_commercial_coverage(response: httpx2.Response) -> None:
    assert response.status_code == 200, response.text
    assert "Commercial" in response.json()["cards"][0]["summary"]


# --- prefetch states -----------------------------------------------------------------------------

def test_absent_coverage_is_fetched_once_with_the_bearer_token(tmp_path: Path,
                                                               trust_file: Path) -> None:
    fhir = FhirServer()
    response = post(tmp_path, trust_file, without_coverage(), fhir)
    assert_decided_on_commercial_coverage(response)
    [request] = fhir.requests
    assert request.method == "GET"
    assert str(request.url).startswith(f"{FHIR}/Coverage?")
    assert parse_qs(request.url.query.decode()) == {"patient": ["pat-cryo-1"],
                                                    "status": ["active"]}
    assert request.headers["authorization"] == f"Bearer {FHIR_TOKEN}"
    assert request.headers["accept"] == "application/fhir+json"
    assert "cookie" not in request.headers


def test_a_request_without_any_prefetch_queries_what_it_needs(tmp_path: Path,
                                                              trust_file: Path) -> None:
    fhir = FhirServer()
    body = with_fhir_access(example())
    del body["prefetch"]
    assert_decided_on_commercial_coverage(post(tmp_path, trust_file, body, fhir))
    assert [r.url.path for r in fhir.requests] == ["/fhir/Coverage"]


def test_absent_coverage_without_fhir_server_is_412_naming_the_key(tmp_path: Path,
                                                                   trust_file: Path) -> None:
    fhir = FhirServer()
    body = example()
    del body["prefetch"]["coverage"]
    del body["fhirServer"]
    assert_412(post(tmp_path, trust_file, body, fhir), "prefetch 'coverage'")
    assert fhir.requests == []


def test_absent_coverage_without_an_access_token_is_412(tmp_path: Path,
                                                        trust_file: Path) -> None:
    fhir = FhirServer()
    body = without_coverage()
    del body["fhirAuthorization"]
    response = post(tmp_path, trust_file, body, fhir)
    assert_412(response, "prefetch.coverage")
    assert fhir.requests == []


def test_null_coverage_means_none_found_and_is_not_fetched(tmp_path: Path,
                                                           trust_file: Path) -> None:
    # null: the client's query ran and found nothing; there is no Coverage to decide on (400,
    # CRD 2.2), and nothing to fetch again.
    fhir = FhirServer()
    body = with_fhir_access(example("order-sign-47383-no-coverage-null"))
    response = post(tmp_path, trust_file, body, fhir)
    assert response.status_code == 400, response.text
    assert "No active Coverage" in response.text
    assert fhir.requests == []


def test_present_coverage_is_not_fetched(tmp_path: Path, trust_file: Path) -> None:
    fhir = FhirServer()
    assert_decided_on_commercial_coverage(
        post(tmp_path, trust_file, with_fhir_access(example()), fhir))
    assert fhir.requests == []


def test_an_operation_outcome_in_prefetch_is_fetched_again(tmp_path: Path,
                                                           trust_file: Path) -> None:
    fhir = FhirServer()
    body = with_fhir_access(example())
    body["prefetch"]["coverage"] = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout", "diagnostics": "search timed out"}]}
    assert_decided_on_commercial_coverage(post(tmp_path, trust_file, body, fhir))
    assert [r.url.path for r in fhir.requests] == ["/fhir/Coverage"]


@pytest.mark.parametrize("value", ["Coverage?patient=1", [], {"entry": []}, 17])
def test_an_unexpected_prefetch_shape_is_fetched_instead(tmp_path: Path, trust_file: Path,
                                                         value: Any) -> None:
    fhir = FhirServer()
    body = with_fhir_access(example())
    body["prefetch"]["coverage"] = value
    assert_decided_on_commercial_coverage(post(tmp_path, trust_file, body, fhir))
    assert len(fhir.requests) == 1


def test_an_unexpected_prefetch_shape_without_access_is_412(tmp_path: Path,
                                                            trust_file: Path) -> None:
    body = example()
    body["prefetch"]["coverage"] = ["not", "a", "resource"]
    assert_412(post(tmp_path, trust_file, body, FhirServer()), "prefetch 'coverage'")


@pytest.mark.parametrize("prefetch", [[], "x", 3])
def test_a_prefetch_that_is_not_an_object_is_400_not_a_crash(tmp_path: Path, trust_file: Path,
                                                             prefetch: Any) -> None:
    body = with_fhir_access(example())
    body["prefetch"] = prefetch
    response = post(tmp_path, trust_file, body, FhirServer())
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


# --- pages ---------------------------------------------------------------------------------------

def test_a_paginated_search_is_followed_on_the_same_server_with_the_token(
        tmp_path: Path, trust_file: Path) -> None:
    requests: list[httpx2.Request] = []

    def paged(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        if "page=2" in str(request.url):
            return httpx2.Response(200, json=searchset(resource("Coverage-cov-commercial")))
        return httpx2.Response(200, json=searchset(
            resource("Coverage-cov-cancelled"), next_url=f"{FHIR}/Coverage?page=2"))

    assert_decided_on_commercial_coverage(post(tmp_path, trust_file, without_coverage(), paged))
    assert [str(r.url) for r in requests][1] == f"{FHIR}/Coverage?page=2"
    assert all(r.headers["authorization"] == f"Bearer {FHIR_TOKEN}" for r in requests)


def test_a_paginated_prefetch_is_completed_from_the_server(tmp_path: Path,
                                                           trust_file: Path) -> None:
    requests: list[httpx2.Request] = []

    def page_two(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json=searchset(resource("Coverage-cov-commercial")))

    body = with_fhir_access(example())
    body["prefetch"]["coverage"] = searchset(resource("Coverage-cov-cancelled"),
                                             next_url=f"{FHIR}/Coverage?page=2")
    assert_decided_on_commercial_coverage(post(tmp_path, trust_file, body, page_two))
    assert [str(r.url) for r in requests] == [f"{FHIR}/Coverage?page=2"]
    assert requests[0].headers["authorization"] == f"Bearer {FHIR_TOKEN}"


def test_a_paginated_prefetch_without_access_is_412(tmp_path: Path, trust_file: Path) -> None:
    body = example()
    body["prefetch"]["coverage"] = searchset(resource("Coverage-cov-cancelled"),
                                             next_url=f"{FHIR}/Coverage?page=2")
    assert_412(post(tmp_path, trust_file, body, FhirServer()), "paginated")


def test_a_next_link_to_another_server_is_not_followed(tmp_path: Path,
                                                       trust_file: Path) -> None:
    requests: list[httpx2.Request] = []

    def leaky(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json=searchset(
            next_url="https://collector.example/fhir/Coverage?page=2"))

    assert_412(post(tmp_path, trust_file, without_coverage(), leaky), "leaves the FHIR server")
    assert {r.url.host for r in requests} == {"ehr.example.org"}


def test_pages_beyond_the_limit_are_412(tmp_path: Path, trust_file: Path) -> None:
    requests: list[httpx2.Request] = []

    def endless(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json=searchset(
            next_url=f"{FHIR}/Coverage?page={len(requests) + 1}"))

    response = post(tmp_path, trust_file, without_coverage(), endless, fhir_max_pages=3)
    assert_412(response, "more than 3 pages")
    assert len(requests) == 3


def test_requests_beyond_the_budget_of_one_call_are_412(tmp_path: Path,
                                                        trust_file: Path) -> None:
    requests: list[httpx2.Request] = []

    def two_pages(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json=searchset(next_url=f"{FHIR}/Coverage?page=2"))

    response = post(tmp_path, trust_file, without_coverage(), two_pages, fhir_max_fetches=1)
    assert_412(response, "CDS_FHIR_MAX_FETCHES")
    assert len(requests) == 1


def test_max_fetches_zero_turns_querying_off(tmp_path: Path, trust_file: Path) -> None:
    fhir = FhirServer()
    assert_412(post(tmp_path, trust_file, without_coverage(), fhir, fhir_max_fetches=0),
               "prefetch 'coverage'")
    assert fhir.requests == []


# --- which servers -------------------------------------------------------------------------------

def test_a_fhir_server_not_allowlisted_for_the_client_is_never_called(
        tmp_path: Path, trust_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    fhir = FhirServer()
    body = without_coverage(fhirServer="https://attacker.example/fhir")
    with caplog.at_level(logging.WARNING):
        assert_412(post(tmp_path, trust_file, body, fhir), "prefetch 'coverage'")
    assert fhir.requests == []
    assert "not allowlisted" in caplog.text


def test_an_allowlisted_server_with_a_trailing_slash_is_the_same_server(
        tmp_path: Path, trust_file: Path) -> None:
    fhir = FhirServer()
    body = without_coverage(fhirServer=FHIR + "/")
    assert_decided_on_commercial_coverage(post(tmp_path, trust_file, body, fhir))
    assert len(fhir.requests) == 1


def test_a_plain_http_server_is_not_called_in_production(tmp_path: Path) -> None:
    # Start-up refuses a trust file that lists one (tests/auth/test_trust_settings.py); should an
    # allowlist name one all the same, no fetcher is made for it (defence in depth).
    http_server = "http://ehr.example.org/fhir"
    client = Client(iss=EHR().iss, fhir_servers=(http_server,))
    request = parse_request(without_coverage(fhirServer=http_server))

    def no_http() -> httpx2.AsyncClient:
        raise AssertionError("no outbound client may be made for a plain http server")

    assert fetcher_for(settings_for(tmp_path, None), no_http, request, client) is None


def test_a_plain_http_server_is_called_in_development(tmp_path: Path) -> None:
    http_server = "http://ehr.example.org/fhir"
    trust = write_trust(tmp_path / "trust.json", EHR().entry(fhir_servers=[http_server]))
    fhir = FhirServer()
    response = post(tmp_path, trust, without_coverage(fhirServer=http_server), fhir,
                    environment="development")
    assert_decided_on_commercial_coverage(response)
    assert len(fhir.requests) == 1


def test_each_call_uses_its_own_token(tmp_path: Path, trust_file: Path) -> None:
    fhir = FhirServer()
    with serve(settings_for(tmp_path, trust_file), fhir) as service:
        for token in ("first-call-token", "second-call-token"):
            body = with_fhir_access(example(), token=token)
            del body["prefetch"]["coverage"]
            assert service.post(SIGN, json=body, headers=EHR().auth()).status_code == 200
        body = example()
        del body["prefetch"]["coverage"]
        assert service.post(SIGN, json=body, headers=EHR().auth()).status_code == 412
    assert [r.headers["authorization"] for r in fhir.requests] == [
        "Bearer first-call-token", "Bearer second-call-token"]


# --- failing servers -----------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "mentions"), [
    (httpx2.Response(500), "HTTP 500"),
    (httpx2.Response(401), "HTTP 401"),
    (httpx2.Response(302, headers={"Location": "https://elsewhere.example/"}), "HTTP 302"),
    (httpx2.Response(200, content=b"<html>sign in</html>"), "invalid JSON"),
    (httpx2.Response(200, json=["not", "a", "resource"]), "not a FHIR resource"),
    (httpx2.Response(200, json={"resourceType": "OperationOutcome", "issue": []}),
     "not a Bundle"),
])
def test_a_failing_fhir_server_means_412(tmp_path: Path, trust_file: Path,
                                         answer: httpx2.Response, mentions: str) -> None:
    requests: list[httpx2.Request] = []

    def failing(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return answer

    assert_412(post(tmp_path, trust_file, without_coverage(), failing), mentions)
    assert len(requests) == 1  # no retry, no redirect followed


def test_a_refused_connection_means_412(tmp_path: Path, trust_file: Path) -> None:
    def refused(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    assert_412(post(tmp_path, trust_file, without_coverage(), refused), "ConnectError")


def test_a_transport_timeout_means_412(tmp_path: Path, trust_file: Path) -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("read timed out", request=request)

    assert_412(post(tmp_path, trust_file, without_coverage(), slow), "timed out")


def test_an_oversized_answer_means_412(tmp_path: Path, trust_file: Path) -> None:
    def huge(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b" " * (5 * 1024 * 1024))

    assert_412(post(tmp_path, trust_file, without_coverage(), huge), "bytes")


# --- secrets and PHI -----------------------------------------------------------------------------

def test_neither_token_nor_patient_reaches_the_log(tmp_path: Path, trust_file: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ehr = EHR()
    jwt_token = ehr.token()
    with serve(settings_for(tmp_path, trust_file), FhirServer()) as service:
        ok = service.post(SIGN, json=without_coverage(),
                          headers={"Authorization": f"Bearer {jwt_token}"})
        replay = service.post(SIGN, json=without_coverage(),
                              headers={"Authorization": f"Bearer {jwt_token}"})
    assert (ok.status_code, replay.status_code) == (200, 401)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "FHIR Coverage search: ok" in caplog.text
    assert FHIR_TOKEN not in logged
    for part in jwt_token.split("."):
        assert part not in logged
    for phi in ("pat-cryo-1", "Brightwater", "XCM900000002", "1954-06-21"):
        assert phi not in logged


def test_a_failed_fetch_logs_the_outcome_without_the_token(tmp_path: Path, trust_file: Path,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    caplog.set_level(logging.DEBUG)

    def failing(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(503, text=f"upstream said {request.headers['authorization']}")

    post(tmp_path, trust_file, without_coverage(), failing)
    fetches = [r for r in caplog.records if r.getMessage().startswith("FHIR Coverage search")]
    assert [(r.getMessage(), r.__dict__["status"]) for r in fetches] == [
        ("FHIR Coverage search: error", 503)]
    assert FHIR_TOKEN not in caplog.text + "".join(str(r.__dict__) for r in caplog.records)


def test_a_412_names_the_template_not_the_patient(tmp_path: Path, trust_file: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = example()
    del body["prefetch"]["coverage"]
    response = post(tmp_path, trust_file, body, FhirServer())
    assert_412(response, "Coverage?patient={{context.patientId}}&status=active")
    assert "pat-cryo-1" not in caplog.text + "".join(str(r.__dict__) for r in caplog.records)
