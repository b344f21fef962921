"""The served process's log: JSON objects, one per line, on stderr; the hook call's line carries its
hookInstance; and nothing of the patient or of the tokens, anywhere in what the process wrote,
for a normal call (authentication on, production rules, records on)."""

from __future__ import annotations

from pathlib import Path

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
