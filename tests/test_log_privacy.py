"""Bad input that carries the example patient's name, birth date and MRN in every place a caller
chooses text: element names, values, ids, the path, the fhirServer URL, prefetch keys. Each call
is refused or answered as usual, and the autouse fixture in tests/conftest.py greps every log line
of it (at DEBUG, formatted as the service writes it) for the patient's data."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from cds_service.logs import JsonFormatter, LibraryLines
from tests.auth.ehr import EHR, serve, settings_for, with_fhir_access, write_trust
from tests.auth.ehr import example as auth_example
from tests.conftest import EXAMPLE_PATIENT
from tests.support import call, example

SIGN = "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"
NAME = EXAMPLE_PATIENT["family name"]
BORN = EXAMPLE_PATIENT["birth date"]
MRN = EXAMPLE_PATIENT["MRN"]


def order(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["context"]["draftOrders"]["entry"][0]["resource"])


def mutate_order(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body = example(SIGN)
    change(body["context"]["draftOrders"]["entry"][0]["resource"])
    return body


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "unknown element named after the patient": lambda: mutate_order(
        lambda o: o.update({NAME: MRN, f"{BORN}x": {"birthDate": BORN}})),
    "unknown element deep in the order": lambda: mutate_order(
        lambda o: o["code"]["coding"][0].update({f"mrn{MRN}": NAME})),
    "patient data where a code belongs": lambda: mutate_order(
        lambda o: o.update(status=MRN, intent=NAME, authoredOn=BORN + "Z")),
    "patient data as a Reference": lambda: mutate_order(
        lambda o: o.update(subject=f"{NAME} {BORN}")),
    "patient data as the order's contained resource type": lambda: mutate_order(
        lambda o: o.update(contained=[{"resourceType": "Patient", "id": MRN,
                                       "name": [{"family": NAME}], "birthDate": "born " + BORN}])),
    "patient data in a selection": lambda: {
        **example("order-select-47383-medicare-advantage-hepatocellular-carcinoma"),
        "context": {**example("order-select-47383-medicare-advantage-hepatocellular-carcinoma")[
            "context"], "selections": [f"ServiceRequest/{NAME}-{MRN}"]}},
    "hookInstance that is not a UUID": lambda: {**example(SIGN), "hookInstance": f"{NAME}-{MRN}"},
    "prefetch keys and values named after the patient": lambda: {
        **example(SIGN), "prefetch": {**example(SIGN)["prefetch"], NAME: {BORN: MRN},
                                      "coverage": {"resourceType": f"{NAME}{BORN}"}}},
    "fhirServer that is not a URL": lambda: {**example(SIGN), "fhirServer": f"{NAME}/{MRN}"},
    "the patient's data as the hook": lambda: {**example(SIGN), "hook": f"{NAME} {BORN}"},
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_with_patient_data_is_refused_or_answered_without_logging_it(
        client: TestClient, case: str) -> None:
    response = call(client, CASES[case]())
    assert response.status_code in (200, 400, 412), response.text


def test_an_unknown_service_named_after_the_patient_is_not_logged(client: TestClient) -> None:
    response = client.post(f"/cds-services/{NAME}-{MRN}", json=example(SIGN))
    assert response.status_code == 404


def test_a_fhir_server_the_client_may_not_query_is_not_logged(tmp_path: Path) -> None:
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    body = with_fhir_access(auth_example(), server=f"https://ehr.example.org/{NAME}/{MRN}/{BORN}")
    del body["prefetch"]["coverage"]
    with serve(settings_for(tmp_path, trust)) as service:
        response = service.post("/cds-services/crd-order-sign", json=body, headers=ehr.auth())
    assert response.status_code == 412  # not queried: the server is not allowlisted


def test_references_the_ehr_is_asked_for_are_logged_by_fhir_type_only(tmp_path: Path) -> None:
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    body = with_fhir_access(auth_example())
    body["context"]["draftOrders"]["entry"][0]["resource"]["reasonReference"] = [
        {"reference": f"{NAME}/{MRN}"}, {"reference": f"Condition/{MRN}"}]
    asked: list[str] = []

    def fhir_server(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        return httpx2.Response(404, json={"resourceType": "OperationOutcome", "issue": []})

    with serve(settings_for(tmp_path, trust), fhir_server) as service:
        response = service.post("/cds-services/crd-order-sign", json=body, headers=ehr.auth())
    assert response.status_code == 200, response.text
    assert asked == [f"/fhir/{NAME}/{MRN}", f"/fhir/Condition/{MRN}"]


# --- every logger, at DEBUG (issue 21) ------------------------------------------------------

def record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, None)


HEADERS_LINE = ("receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
                f"[(b'X-Patient', b'{NAME} {MRN}'), (b'Host', b'ehr.example.org:443')])")


@pytest.mark.parametrize(("name", "level", "msg", "args"), [
    ("httpcore2.http11", logging.DEBUG, HEADERS_LINE, ()),
    ("httpx2", logging.INFO, 'HTTP Request: %s %s "%s %d %s"',
     ("GET", f"https://ehr.example.org/fhir/Patient?name={NAME}", "HTTP/1.1", 200, "OK")),
    ("sqlalchemy.engine.Engine", logging.INFO, "[generated] %r", ({"family": NAME},)),
    ("psycopg", logging.DEBUG, f"connection to ehr.example.org {MRN}", ()),
])
def test_library_lines_below_warning_are_dropped_unless_their_logger_is_named(
        name: str, level: int, msg: str, args: tuple[object, ...]) -> None:
    assert not LibraryLines().filter(record(name, level, msg, *args))
    named = record(name, level, msg, *args)
    assert LibraryLines((name.split(".")[0],)).filter(named)
    line = JsonFormatter().format(named)
    assert NAME not in line and MRN not in line and "ehr.example.org" not in line
    assert "left out" in line


def test_a_library_warning_is_written_without_its_values() -> None:
    warning = record("sqlalchemy.pool", logging.WARNING, "connection %r invalidated", NAME)
    assert LibraryLines().filter(warning)
    assert JsonFormatter().format(warning).count("connection %r invalidated (values left out)")
    assert NAME not in JsonFormatter().format(warning)


def test_the_service_s_own_lines_pass_as_they_are() -> None:
    ours = record("cds_service.auth", logging.DEBUG, "client authenticated")
    assert LibraryLines().filter(ours) and ours.getMessage() == "client authenticated"


def test_the_tenant_claim_is_logged_as_a_digest(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    caplog.set_level(logging.DEBUG)
    with serve(settings_for(tmp_path, trust)) as service:
        response = service.post("/cds-services/crd-order-sign", json=auth_example(),
                                 headers=ehr.auth(tenant=f"{NAME}-{MRN}"))
    assert response.status_code == 200, response.text
    [line] = [JsonFormatter().format(r) for r in caplog.records
              if r.getMessage() == "client authenticated"]
    assert json.loads(line)["tenant"].startswith("sha256:")
    assert NAME not in line


def test_a_call_that_queries_the_ehr_logs_neither_its_host_nor_its_headers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """With every logger at DEBUG, through the service's filter (tests/conftest.py)."""
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    body = with_fhir_access(auth_example())
    del body["prefetch"]["coverage"]

    def fhir_server(request: httpx2.Request) -> httpx2.Response:
        coverage = auth_example()["prefetch"]["coverage"]
        return httpx2.Response(200, json=coverage, headers={"X-Patient": f"{NAME} {MRN}"})

    caplog.set_level(logging.DEBUG)
    handler_filter = LibraryLines()
    with serve(settings_for(tmp_path, trust), fhir_server) as service:
        response = service.post("/cds-services/crd-order-sign", json=body, headers=ehr.auth())
    assert response.status_code == 200, response.text
    lines = [JsonFormatter().format(r) for r in caplog.records if handler_filter.filter(r)]
    assert lines
    # The server's URL and the response's headers: not in any line (the iss, our trust file's,
    # names the same host and is logged).
    assert not [line for line in lines if "/fhir" in line or "X-Patient" in line], lines
