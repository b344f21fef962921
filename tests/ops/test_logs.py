"""The served process's log: JSON objects, one per line, on stderr; the hook call's line carries its
hookInstance; and nothing of the patient or of the tokens, anywhere in what the process wrote,
for a normal call (authentication on, production rules, records on)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx2
import pytest

from tests.auth.ehr import EHR, FHIR_TOKEN, with_fhir_access
from tests.ops.processes import call, production, serving, sign_request

pytestmark = pytest.mark.slow


def test_a_normal_call_is_logged_as_json_without_patient_data_or_tokens(tmp_path: Path) -> None:
    ehr = EHR()
    token = ehr.token()
    body = with_fhir_access(sign_request())  # the EHR's FHIR access token, unused: all prefetched
    patient = body["prefetch"]["patient"]
    with serving(production(tmp_path, ehr), tmp_path) as served:
        response = call(served, token, body)
        assert response.status_code == 200, response.text

    assert served.proc.returncode == 0
    entries = served.log_lines()  # every line is a JSON object
    assert served.stdout.read_text() == ""
    [answered] = [e for e in entries if e["message"] == "hook answered"]
    assert answered["hookInstance"] == body["hookInstance"]
    assert answered["service"] == "crd-order-sign" and answered["iss"] == ehr.iss

    never = {
        "patient id": body["context"]["patientId"],
        "family name": patient["name"][0]["family"],
        "given name": patient["name"][0]["given"][0],
        "MRN": patient["identifier"][0]["value"],
        "birth date": patient["birthDate"],
        "JWT": token,
        "JWT signature": token.rsplit(".", 1)[1],
        "FHIR access token": FHIR_TOKEN,
    }
    output = served.output()
    assert [what for what, value in never.items() if value in output] == []


def test_bad_input_carrying_patient_data_leaves_none_of_it_in_the_log(tmp_path: Path) -> None:
    """The bad-input cases of tests/test_log_privacy.py that reach the server's own layers too
    (a malformed request line, a head over the limit), against the real process: every line it
    writes is free of the example patient's name, birth date and MRN."""
    ehr = EHR()
    body = sign_request()
    patient = body["prefetch"]["patient"]
    name, born = patient["name"][0]["family"], patient["birthDate"]
    mrn = patient["identifier"][0]["value"]
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order[name] = {"birthDate": born, "mrn": mrn}  # an unknown element, named after the patient
    order["status"] = mrn
    body["hookInstance"] = f"{name}-{mrn}"
    odd_server = with_fhir_access(sign_request(), server=f"https://ehr.example.org/{name}/{mrn}")
    del odd_server["prefetch"]["coverage"]
    with serving(production(tmp_path, ehr), tmp_path) as served:
        assert call(served, ehr.token(), body).status_code == 400
        assert call(served, ehr.token(), odd_server).status_code == 412
        wrong = httpx2.post(f"{served.base}/cds-services/{name}-{born}", json=sign_request(),
                            headers={"Authorization": f"Bearer {ehr.token()}"}, timeout=10)
        assert wrong.status_code == 404
        for raw in (f"GET /{name} {born} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                    f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-{name}: {mrn}".encode()
                    + b"a" * 65536):
            with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
                sock.sendall(raw)
                assert sock.recv(65536).split(b" ")[1] in (b"400", b"431")
        assert call(served, ehr.token()).status_code == 200

    output = served.output()
    assert [what for what, value in {"family name": name, "birth date": born, "MRN": mrn}.items()
            if value in output] == []
    assert any(e["message"] == "request refused" for e in served.log_lines())
