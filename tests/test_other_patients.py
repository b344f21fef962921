"""Another patient's data is never used: a reason Condition read from the EHR (or prefetch) whose
subject is not ``context.patientId`` is left out of the decision, so the card cannot cite it as
this patient's indication, and the record notes the reference's path, never its content (issue
21: another patient's hepatocellular carcinoma counted as this patient's indication). The member's
Coverage was already chosen by its beneficiary (payer/coverage.py ``applies``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from cds_service.fhir.orders import another_patients
from cds_service.store.tables import decision_order
from tests.auth.ehr import EHR, FHIR, example, serve, settings_for, with_fhir_access, write_trust

CONDITION = "cond-hcc-1"


def condition(subject: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": CONDITION, "subject": {"reference": subject},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                 "code": "C22.0"}]}}


def decided(tmp_path: Path, subject: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the answer, the order's record) for the example order whose one reason is a Condition
    the EHR serves with ``subject``."""
    body = with_fhir_access(example())
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    patient = body["context"]["patientId"]
    del order["reasonCode"]
    order["reasonReference"] = [{"reference": f"Condition/{CONDITION}"}]

    def fhir_server(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == f"/fhir/Condition/{CONDITION}", request.url
        return httpx2.Response(200, json=condition(subject.format(patient=patient)))

    return answered(tmp_path, body, fhir_server)


def answered(tmp_path: Path, body: dict[str, Any],
             fhir_server: Callable[[httpx2.Request], httpx2.Response] | None = None,
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the answer, the one order's decision record) for an order-sign call of ``body``."""
    ehr = EHR()
    trust = write_trust(tmp_path / "trust.json", ehr.entry())
    settings = settings_for(tmp_path, trust, record_decisions=True)
    with serve(settings, fhir_server) as service:
        response = service.post("/cds-services/crd-order-sign", json=body, headers=ehr.auth())
        assert response.status_code == 200, response.text
        records = service.app.state.runtime.records  # type: ignore[attr-defined]
        with records.db.read() as conn:
            [row] = conn.execute(select(decision_order)).mappings()
    return response.json(), dict(row)


def test_this_patient_s_condition_is_the_order_s_indication(tmp_path: Path) -> None:
    answer, row = decided(tmp_path, "Patient/{patient}")
    assert row["indications"]
    assert not row["ignored_elements"]
    assert "C22.0" in json.dumps(answer["cards"])


def test_another_patient_s_condition_is_left_out_and_its_path_recorded(tmp_path: Path) -> None:
    answer, row = decided(tmp_path, "Patient/someone-else")
    assert row["indications"] == []
    assert row["ignored_elements"] == ["context.draftOrders.entry[0].resource.reasonReference[0]"]
    assert "C22.0" not in json.dumps(answer["cards"])
    assert "someone-else" not in json.dumps(row, default=str)


@pytest.mark.parametrize(("resource", "other"), [
    (condition("Patient/p2"), ["Patient/p2"]),
    (condition(f"{FHIR}/Patient/p1"), []),
    ({"resourceType": "Coverage", "beneficiary": {"reference": "Patient/p2"}}, ["Patient/p2"]),
    ({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"}}, []),
    ({"resourceType": "Condition", "subject": {"reference": "Group/g1"}}, []),
])
def test_another_patient_is_found_where_each_resource_names_its_patient(
        resource: dict[str, Any], other: list[str]) -> None:
    assert another_patients(resource, "p1") == other


def test_another_patient_s_coverage_is_left_out_and_its_path_recorded(tmp_path: Path) -> None:
    # The prefetched Bundle holds the member's Coverage and another patient's: the decision
    # uses the member's, and the record names where the other one was, not whose it is.
    body = example()
    entries = body["prefetch"]["coverage"]["entry"]
    stranger = json.loads(json.dumps(entries[0]["resource"]))
    stranger.update(id="cov-stranger", beneficiary={"reference": "Patient/someone-else"})
    entries.append({"resource": stranger})
    answer, row = answered(tmp_path, body)
    member = entries[0]["resource"]["id"]
    [action] = answer["systemActions"]
    assert f'"Coverage/{member}"' in json.dumps(action)
    assert "cov-stranger" not in json.dumps(answer)
    assert row["ignored_elements"] == ["prefetch coverage[1]"]
    assert "someone-else" not in json.dumps(row, default=str)
