"""Policies are data: a new policy is a file; a bad file stops start-up naming file and field."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds_service.errors import ConfigurationError
from cds_service.knowledge import load_knowledge
from cds_service.main import create_app
from cds_service.policy.loader import BUNDLED_DIR, load_policies
from tests.support import POLICY_DOCUMENT, ROOT, call, example, require_shared, settings_for

TEST_POLICIES = ROOT / "tests" / "data" / "policies"
CRYO = BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.yaml"


def write_policy(directory: Path, data: dict[str, Any], name: str = "p.yaml") -> Path:
    directory.mkdir(exist_ok=True)
    shutil.copy(BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.txt", directory)
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cryo() -> dict[str, Any]:
    return yaml.safe_load(CRYO.read_text())


def test_bundled_source_document_is_the_payers_document() -> None:
    require_shared(POLICY_DOCUMENT)
    bundled = (BUNDLED_DIR / "cryosurgical-ablation-liver-tumors.txt").read_text()
    assert bundled == POLICY_DOCUMENT.read_text()


def test_every_quote_in_the_bundled_policy_is_verbatim_in_the_payers_document() -> None:
    require_shared(POLICY_DOCUMENT)
    document = re.sub(r"\s+", " ", POLICY_DOCUMENT.read_text())
    policy = load_policies().get("cryosurgical-ablation-liver-tumors")
    assert policy is not None
    quotes = policy.policy.quotes()
    assert len(quotes) == 18
    for name, quote in quotes.items():
        assert quote.quote in document, name


def test_a_second_policy_is_added_by_dropping_in_a_file(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(policy_dir=TEST_POLICIES)
    body = example("order-sign-47383-commercial-hepatocellular-carcinoma")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "31660"}],
                     "text": "Bronchial thermoplasty"}
    answer = call(client, body).json()
    card = answer["cards"][0]
    assert card["summary"] == ("Not medically necessary for this Commercial member: "
                               "bronchial thermoplasty (CPT 31660)")
    assert card["source"]["label"] == "Blue Cross & Blue Shield of Rhode Island"
    assert card["source"]["topic"]["code"] == "off-guideline"
    assert "> Bronchial thermoplasty is not medically necessary" in card["detail"]
    assert card["links"][0]["url"].endswith("/policies/test-only-thermoplasty")
    discovery = client.get("/cds-services").json()
    codes = {o["code"] for o in
             discovery["services"][0]["extension"]["davinci-crd.configuration-options"]}
    assert {"guideline", "off-guideline"} <= codes
    cryo_card = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                     ).json()["cards"][0]
    assert cryo_card["source"]["label"] == "Blue Cross & Blue Shield of Rhode Island"


def test_a_policy_file_with_a_bundled_id_replaces_it(
        tmp_path: Path, make_client: Callable[..., TestClient]) -> None:
    data = cryo()
    data["version"] = "2099-01"
    data["source"]["url"] = "https://payer.example/policies/cryo"
    write_policy(tmp_path / "override", data)
    client = make_client(policy_dir=tmp_path / "override")
    card = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                ).json()["cards"][0]
    assert card["links"][0]["url"] == "https://payer.example/policies/cryo"


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d.pop("codes"), "codes"),
    (lambda d: d.update(card_topic="nonsense"), "card_topic"),
    (lambda d: d["determinations"]["commercial"].update(covered="maybe"),
     "determinations.commercial.covered"),
    (lambda d: d["determinations"]["commercial"].update(phrase="never covered"),
     "determinations.commercial"),
    (lambda d: d["determinations"]["commercial"].update(not_covered_as="investigational"),
     "determinations.commercial"),
    (lambda d: d["determinations"]["commercial"].update(covered="covered"),
     "determinations.commercial"),
    (lambda d: d["indications"][0]["diagnoses"][0].update(any_of=[]),
     "indications.0.diagnoses.0.any_of"),
    (lambda d: d.update(surprise=True), "surprise"),
    (lambda d: d.update(id="Not A Slug"), "id"),
])
def test_invalid_policy_stops_start_up_naming_file_and_field(
        tmp_path: Path, change: Callable[[dict[str, Any]], Any], field: str) -> None:
    data = cryo()
    change(data)
    path = write_policy(tmp_path / "bad", data)
    with pytest.raises(ConfigurationError) as info:
        create_app(settings_for(tmp_path, policy_dir=tmp_path / "bad"))
    assert info.value.source == str(path)
    assert any(p.startswith(field) for p in info.value.problems), info.value.problems


def test_altered_quote_is_refused(tmp_path: Path) -> None:
    data = cryo()
    data["coverage_note"]["quote"] = "Benefits never vary."
    write_policy(tmp_path / "bad", data)
    with pytest.raises(ConfigurationError, match=r"coverage_note\.quote: not found verbatim"):
        load_policies(tmp_path / "bad")


def test_determination_for_unknown_line_of_business_is_refused(tmp_path: Path) -> None:
    data = cryo()
    data["determinations"]["medicaid"] = data["determinations"]["commercial"]
    write_policy(tmp_path / "bad", data)
    with pytest.raises(ConfigurationError, match="no line of business 'medicaid'"):
        load_knowledge(tmp_path / "bad", None)


def test_summary_over_139_characters_is_refused(tmp_path: Path) -> None:
    data = cryo()
    data["procedure"] = "cryosurgical ablation of liver tumors " * 3
    write_policy(tmp_path / "bad", data)
    with pytest.raises(ConfigurationError, match="limit 139"):
        load_knowledge(tmp_path / "bad", None)


def test_unreadable_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "p.yaml").write_text("id: [unclosed")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_policies(tmp_path / "bad")


def test_bad_payer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "payer.yaml"
    path.write_text(yaml.safe_dump({"schema": 1, "name": "X", "lines_of_business": []}))
    with pytest.raises(ConfigurationError) as info:
        load_knowledge(None, path)
    assert info.value.problems[0].startswith("lines_of_business")
