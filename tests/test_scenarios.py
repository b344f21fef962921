"""Every scenario in fhir_examples/scenarios.yaml answered as its manifest says, through HTTP as
an EHR calls: a signed JWT from a trusted client, production rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from tests.auth.ehr import BASE, EHR, serve, settings_for, write_trust
from tests.support import EXAMPLES, HOOK_SERVICE, WITH_EXAMPLES, example

SCENARIOS = yaml.safe_load((EXAMPLES / "scenarios.yaml").read_text())
LINE_NAMES = {"medicare-advantage": "Medicare Advantage", "commercial": "Commercial"}
PHRASES = {"medicare-advantage": "Not covered", "commercial": "Not medically necessary"}
ALL_INDICATIONS = ["hepatocellular-carcinoma", "neuroendocrine-liver-metastases",
                   "colorectal-liver-metastases"]


def test_every_request_file_has_a_scenario() -> None:
    listed = {s["request"] for s in SCENARIOS}
    on_disk = {f"requests/{p.name}" for p in (EXAMPLES / "requests").glob("*.json")}
    assert listed == on_disk


def test_example_policy_scenarios_name_their_payer_file() -> None:
    """A reader runs them as listed: the example policies are refused beside the bundled payer
    file (another payer's)."""
    for s in SCENARIOS:
        if "policy_dir" in s:
            assert (EXAMPLES / s["policy_dir"], EXAMPLES / s["payer_file"]) == (
                WITH_EXAMPLES["policy_dir"], WITH_EXAMPLES["payer_file"]), s["request"]
        else:
            assert "payer_file" not in s, s["request"]


@pytest.fixture(scope="module")
def ehr() -> EHR:
    return EHR()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, ehr: EHR) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("scenarios")
    with serve(settings_for(tmp, write_trust(tmp / "trust.json", ehr.entry()))) as client:
        yield client


@pytest.fixture(scope="module")
def signed_examples(tmp_path_factory: pytest.TempPathFactory, ehr: EHR) -> Iterator[TestClient]:
    """The service with CDS_POLICY_DIR=fhir_examples/policies and
    CDS_PAYER_FILE=fhir_examples/payer.yaml, as a reader runs the examples."""
    tmp = tmp_path_factory.mktemp("scenarios-examples")
    with serve(settings_for(tmp, write_trust(tmp / "trust.json", ehr.entry()),
                            **WITH_EXAMPLES)) as client:
        yield client


def empty_values(value: Any, path: str = "") -> list[str]:
    """Where ``value`` holds a null, an empty array or an empty object (invalid FHIR JSON)."""
    if value is None or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empty_values(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empty_values(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["request"][9:-5] for s in SCENARIOS])
def test_scenario_is_answered_as_expected(request: pytest.FixtureRequest, ehr: EHR,
                                          scenario: dict[str, Any]) -> None:
    signed: TestClient = request.getfixturevalue(
        "signed_examples" if scenario.get("policy_dir") == "policies" else "signed")
    body = example(scenario["request"].removeprefix("requests/"))
    service = HOOK_SERVICE[body["hook"]]
    response = signed.post(f"/cds-services/{service}", json=body,
                           headers=ehr.auth(f"{BASE}/cds-services/{service}"))
    expect = scenario["expect"]
    if "status" in expect:
        # A call the service refuses: an OperationOutcome saying which case it is.
        assert response.status_code == expect["status"], response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert expect["outcome_mentions"] in outcome["issue"][0]["diagnostics"]
        return
    assert response.status_code == 200, response.text
    answer = response.json()

    cards = answer["cards"]
    assert len(cards) == len(expect["cards"])
    for card, want in zip(cards, expect["cards"], strict=True):
        associated = card["extension"]["davinci-crd.associated-resource"]
        assert associated == [{"reference": want["order"]}] + (
            [{"reference": want["appointment"]}] if "appointment" in want else [])
        assert card["indicator"] == want["indicator"]
        if "summary" in want:
            check_example_card(card, want)
            continue
        line = want["line_of_business"]
        if line:
            assert card["summary"].startswith(f"{PHRASES[line]} for this {LINE_NAMES[line]} member")
        else:
            assert "not covered for Medicare Advantage" in card["summary"]
            assert "not medically necessary for Commercial" in card["summary"]
        evidence_links = {link["url"].split("#evidence-")[1] for link in card["links"]
                          if "#evidence-" in link["url"]}
        assert evidence_links == set(want["indications"])
        detail = card["detail"].replace("\\", "")
        # The card never claims an absence the order contradicts.
        assert "no indication on the order" not in detail
        reasons = want.get("reasons")
        if reasons is not None:
            for label in reasons:
                assert f'"{label}"' in detail, label
        if not want["indications"]:
            if reasons:
                assert "could not be matched to the populations the policy reviewed" in detail
            elif reasons is not None:
                assert "the order names no reason" in detail
        assert card["source"]["topic"]["display"] == "Guideline"
        assert not [p for p in empty_values(card) if p], card
        removes = want.get("removes", want["order"])
        if removes is None:
            assert "suggestions" not in card
        else:
            assert card["suggestions"][0]["actions"][0] == {
                "type": "delete", "resourceId": removes,
                "description": card["suggestions"][0]["actions"][0]["description"]}

    actions = answer.get("systemActions")
    if body["hook"] in ("order-sign", "order-dispatch", "appointment-book"):
        assert actions is not None
    actions = actions or []
    assert len(actions) == len(expect["coverage_information"])
    for action, want in zip(actions, expect["coverage_information"], strict=True):
        resource = action["resource"]
        assert f"{resource['resourceType']}/{resource['id']}" == want["order"]
        # What we send back is valid FHIR R4 JSON: no null or empty value, the echoed order
        # included; the order is otherwise as the EHR sent it (CRD §resp-37), so an element R4
        # does not define is the EHR's own local element, returned to it untouched.
        assert empty_values(resource) == []
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValidationError as exc:
            assert {e["type"] for e in exc.errors()} == {"extra_forbidden"}, exc
            sent = [e["resource"] for e in body["context"].get("draftOrders", {}).get("entry", [])
                    if e["resource"].get("id") == resource["id"]]
            assert sent and all(str(e["loc"][0]) in sent[0] for e in exc.errors())
        info = {e["url"]: e for e in resource["extension"][-1]["extension"]}
        assert info["coverage"]["valueReference"]["reference"] == want["coverage"]
        assert info["covered"]["valueCode"] == want.get("covered", "not-covered")
        if want.get("billing_code"):
            assert info["billingCode"]["valueCoding"]["code"] == want["billing_code"]
        else:
            assert "billingCode" not in info
        codes = resource["extension"][-1]["extension"]
        for key, url in (("doc_needed", "doc-needed"), ("doc_purpose", "doc-purpose"),
                         ("info_needed", "info-needed")):
            assert [e["valueCode"] for e in codes if e["url"] == url] == want.get(key, [])
        if "pa_needed" in want or scenario.get("policy_dir"):
            assert info.get("pa-needed", {}).get("valueCode") == want.get("pa_needed")


def check_example_card(card: dict[str, Any], want: dict[str, Any]) -> None:
    """A card of the example policies: its summary, the labelled lines near its top in order,
    and the policies it cites, the deciding one first; an Instructions card (CRD cards.md) is
    text only."""
    assert card["summary"] == want["summary"]
    detail = card["detail"].replace("\\", "")
    labels = [m.group(1) for block in detail.split("\n\n")
              if (m := re.match(r"\*\*(.+?)\*\*", block))]
    assert labels == want["lines"]
    # Every policy that decided is cited by its title (the medical policy's own words follow).
    titles = re.findall(r"^\*([^*]+?):\* ", detail, flags=re.M)
    named = want.get("instructions") or len(want["policies"]) > 1
    assert titles == (want["policies"] if named else [])
    if want.get("instructions"):
        assert not {"links", "suggestions", "overrideReasons"} & set(card)
    else:
        assert card["links"][0]["label"] == f"Medical policy: {want['policies'][0]}"
