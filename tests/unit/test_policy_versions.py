"""Which version of a policy decides (pure), and the order's date of service per order type."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.errors import ConfigurationError
from cds_service.fhir.orders import ORDER_TYPES, Order, service_date
from cds_service.policy.loader import BUNDLED_DIR, LoadedPolicy, in_force, load_policy_file
from cds_service.policy.models import Policy

CRYO = yaml.safe_load((BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.yaml").read_text())


def version(name: str, effective: date | None) -> LoadedPolicy:
    policy = Policy.model_validate({**CRYO, "version": name, "effective": effective})
    return LoadedPolicy(policy, Path("p.yaml"), None)


VERSIONS = (version("first", None), version("2020-01", date(2020, 1, 1)),
            version("2021-12", date(2021, 12, 1)))


@pytest.mark.parametrize(("on", "expected"), [
    (date(1999, 5, 5), "first"),
    (date(2019, 12, 31), "first"),
    (date(2020, 1, 1), "2020-01"),
    (date(2021, 11, 30), "2020-01"),
    (date(2021, 12, 1), "2021-12"),
    (date(2030, 1, 1), "2021-12"),
])
def test_the_latest_version_in_force_on_the_date_decides(on: date, expected: str) -> None:
    found = in_force(VERSIONS, on)
    assert found is not None and found.policy.version == expected


def test_before_its_first_effective_date_no_version_is_in_force() -> None:
    assert in_force(VERSIONS[1:], date(2019, 12, 31)) is None


@pytest.mark.parametrize(("resource", "expected"), [
    ({"resourceType": "ServiceRequest", "occurrenceDateTime": "2027-03-04T10:00:00+01:00",
      "authoredOn": "2026-01-01"}, date(2027, 3, 4)),
    ({"resourceType": "ServiceRequest", "occurrencePeriod": {"start": "2027-03"},
      "authoredOn": "2026-01-01"}, date(2027, 3, 1)),
    ({"resourceType": "ServiceRequest", "occurrenceTiming": {"event": ["2027-05-06"]}},
     date(2027, 5, 6)),
    ({"resourceType": "ServiceRequest", "authoredOn": "2026-02-03T09:00:00Z"}, date(2026, 2, 3)),
    ({"resourceType": "DeviceRequest", "occurrenceDateTime": "2027"}, date(2027, 1, 1)),
    ({"resourceType": "MedicationRequest", "authoredOn": "2026-01-01",
      "dispenseRequest": {"validityPeriod": {"start": "2026-04-01"}}}, date(2026, 4, 1)),
    ({"resourceType": "NutritionOrder", "dateTime": "2026-08-09"}, date(2026, 8, 9)),
    ({"resourceType": "VisionPrescription", "dateWritten": "2026-10-11"}, date(2026, 10, 11)),
    ({"resourceType": "CommunicationRequest", "authoredOn": "2026-12-13"}, date(2026, 12, 13)),
    ({"resourceType": "Appointment", "start": "2027-07-14T08:00:00-04:00",
      "created": "2026-01-01"}, date(2027, 7, 14)),
])
def test_each_order_type_names_its_date_of_service(resource: dict[str, Any],
                                                  expected: date) -> None:
    assert service_date(resource) == expected


def test_every_order_type_has_a_date_of_service() -> None:
    assert all(row.dates for row in ORDER_TYPES.values())


@pytest.mark.parametrize("value", ["", "soon", "2026-13-01", "2026-02-30", 20260101, None])
def test_a_value_that_is_no_date_is_passed_over(value: Any) -> None:
    resource = {"resourceType": "ServiceRequest", "occurrenceDateTime": value,
                "authoredOn": "2026-01-02"}
    assert service_date(resource) == date(2026, 1, 2)
    assert service_date({"resourceType": "ServiceRequest", "occurrenceDateTime": value}) is None


def test_an_appointments_time_is_the_date_of_the_request_it_is_booked_for() -> None:
    request = {"resourceType": "ServiceRequest", "authoredOn": "2026-01-02"}
    appointment = {"resourceType": "Appointment", "start": "2027-07-14T08:00:00Z"}
    assert Order(0, request, "x", via=appointment).service_date == date(2027, 7, 14)
    assert Order(0, request, "x", via={"resourceType": "Appointment"}).service_date \
        == date(2026, 1, 2)


def write_versions(tmp_path: Path, *docs: dict[str, Any]) -> Path:
    (tmp_path / "cryosurgical-ablation-liver-tumors.txt").write_text(
        (BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.txt").read_text())
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_a_file_of_several_documents_is_its_versions_oldest_first(tmp_path: Path) -> None:
    path = write_versions(tmp_path, {**CRYO, "version": "b", "effective": "2021-12-01"},
                          {**CRYO, "version": "a"})
    assert [v.policy.version for v in load_policy_file(path)] == ["a", "b"]


@pytest.mark.parametrize(("first", "second", "field"), [
    ({}, {"id": "another-policy"}, "id"),
    ({}, {"version": "2021-12"}, "version"),
    ({"effective": "2020-01-01"}, {"effective": "2020-01-01"}, "effective"),
    ({}, {}, "effective"),
])
def test_versions_of_a_file_must_be_told_apart(tmp_path: Path, first: dict[str, Any],
                                               second: dict[str, Any], field: str) -> None:
    path = write_versions(tmp_path, {**CRYO, **first}, {**CRYO, "version": "2", **second})
    with pytest.raises(ConfigurationError, match=rf"{field}: "):
        load_policy_file(path)


def test_a_problem_names_the_document_it_is_in(tmp_path: Path) -> None:
    path = write_versions(tmp_path, CRYO, {**CRYO, "version": "2", "effective": "2022-01-01",
                                           "card_topic": "nonsense"})
    with pytest.raises(ConfigurationError, match="document 2: card_topic"):
        load_policy_file(path)
