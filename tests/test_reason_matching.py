"""Which evidence a card shows for the order's reason codes, through the hook endpoint: one row
per way real patients in the policy's populations are coded (issue 18), and the near misses.

A row's reasons go on the order as separate ``reasonCode`` entries, coded only (no text), so the
card quotes each by its code. Expected: the indications whose evidence the card links to; with
none, the card says the reasons "could not be matched to" the populations the policy reviewed.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import call, example

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
HCC = "hepatocellular-carcinoma"
NET = "neuroendocrine-liver-metastases"
CRC = "colorectal-liver-metastases"
LABEL = {ICD: "ICD-10-CM", SCT: "SNOMED CT"}

ROWS: list[tuple[str, list[tuple[str, str]], set[str]]] = [
    # Primary in place.
    ("hepatocellular carcinoma", [(ICD, "C22.0")], {HCC}),
    ("colon primary and liver metastasis", [(ICD, "C18.7"), (ICD, "C78.7")], {CRC}),
    ("rectosigmoid primary", [(ICD, "C19"), (ICD, "C78.7")], {CRC}),
    ("rectal primary", [(ICD, "C20"), (ICD, "C78.7")], {CRC}),
    # Primary removed: ICD-10-CM guideline I.C.2.d, history code plus the secondary site.
    ("removed colon primary", [(ICD, "Z85.038"), (ICD, "C78.7")], {CRC}),
    ("removed rectal primary", [(ICD, "Z85.048"), (ICD, "C78.7")], {CRC}),
    ("removed colon primary, SNOMED CT metastasis", [(ICD, "Z85.038"), (SCT, "94381002")], {CRC}),
    ("dotless history code", [(ICD, "Z85038"), (ICD, "C787")], {CRC}),
    # SNOMED CT primaries (Synthea's colorectal patients carry 93761005 and 109838007).
    ("SNOMED CT primary colon", [(SCT, "93761005"), (ICD, "C78.7")], {CRC}),
    ("SNOMED CT overlapping colon", [(SCT, "109838007"), (SCT, "94381002")], {CRC}),
    ("SNOMED CT primary rectum", [(SCT, "93984006"), (ICD, "C78.7")], {CRC}),
    # Neuroendocrine: C7B.02 names the liver; C7B.8 needs the liver code beside it.
    ("secondary carcinoid of liver", [(ICD, "C7B.02")], {NET}),
    ("other secondary NET with liver metastasis", [(ICD, "C7B.8"), (ICD, "C78.7")], {NET}),
    ("other secondary NET, SNOMED CT liver", [(ICD, "C7B.8"), (SCT, "94381002")], {NET}),
    ("removed rectal primary with carcinoid of liver", [(ICD, "Z85.048"), (ICD, "C7B.02")],
     {NET}),
    ("NET and colon primary both coded", [(ICD, "C7B.8"), (ICD, "C78.7"), (ICD, "C18.7")],
     {NET, CRC}),
    # Near misses: the card quotes them as not matched, never as outside the populations.
    ("liver metastasis, primary unknown", [(ICD, "C78.7")], set()),
    ("other specified liver carcinoma", [(ICD, "C22.8")], set()),
    ("liver cancer unspecified", [(ICD, "C22.9")], set()),
    ("history code alone", [(ICD, "Z85.038")], set()),
    ("other secondary NET, site not given", [(ICD, "C7B.8")], set()),
    ("secondary carcinoid, unspecified site", [(ICD, "C7B.00"), (ICD, "C78.7")], set()),
    ("removed carcinoid of large intestine", [(ICD, "Z85.030"), (ICD, "C78.7")], set()),
    ("anal primary", [(ICD, "C21.0"), (ICD, "C78.7")], set()),
    ("SNOMED CT colon primary alone", [(SCT, "93761005")], set()),
]


def order_with(reasons: list[tuple[str, str]]) -> dict[str, Any]:
    body = example("order-sign-47383-commercial-reason-not-reviewed-by-the-policy")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["reasonCode"] = [{"coding": [{"system": s, "code": c}]} for s, c in reasons]
    return body


@pytest.mark.parametrize(("reasons", "expected"), [(r, e) for _, r, e in ROWS],
                         ids=[name for name, _, _ in ROWS])
def test_reason_codes_get_the_evidence_of_their_population(
        client: TestClient, reasons: list[tuple[str, str]], expected: set[str]) -> None:
    response = call(client, order_with(reasons))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    shown = {link["url"].split("#evidence-")[1] for link in card["links"]
             if "#evidence-" in link["url"]}
    assert shown == expected
    detail = card["detail"].replace("\\", "")
    assert "not among" not in detail
    if expected:
        assert "could not be matched" not in detail
    else:
        assert "could not be matched to the populations the policy reviewed" in detail
        for system, code in reasons:
            assert f'"{LABEL[system]} {code}"' in detail
