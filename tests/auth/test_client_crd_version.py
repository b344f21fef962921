"""A trusted client's Da Vinci CRD version (trust-file ``crd_version``) shapes the answers to its
calls that name no ``davinci-crd.requestedVersion``; a version the call requests wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.auth.ehr import EHR, SIGN_URL, example, serve, settings_for, write_trust

TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
THO_CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"


def topic_system(tmp_path: Path, client_version: str | None, requested: str | None) -> str:
    ehr = EHR()
    entry = ehr.entry(**({"crd_version": client_version} if client_version else {}))
    body: dict[str, Any] = example()
    body.pop("extension", None)
    if requested:
        body["extension"] = {"davinci-crd.requestedVersion": requested}
    with serve(settings_for(tmp_path, write_trust(tmp_path / "trust.json", entry))) as client:
        response = client.post(SIGN_URL, json=body, headers=ehr.auth())
    assert response.status_code == 200, response.text
    system: str = response.json()["cards"][0]["source"]["topic"]["system"]
    return system


@pytest.mark.parametrize(("client_version", "requested", "expected"), [
    (None, None, TEMP),                 # neither: CRD 2.0.1
    ("2.2", None, THO_CARD_TYPE),       # the trust file's version
    ("2.2.1", None, THO_CARD_TYPE),     # a full release number names its major.minor
    ("2.2", "2.1", TEMP),               # the call's own request wins
    ("2.0", "2.2", THO_CARD_TYPE),
])
def test_the_trust_files_version_applies_to_calls_that_name_none(
        tmp_path: Path, client_version: str | None, requested: str | None,
        expected: str) -> None:
    assert topic_system(tmp_path, client_version, requested) == expected
