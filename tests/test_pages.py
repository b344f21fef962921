"""Discovery and the public pages cards link to."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.support import call, example


def test_discovery_lists_every_hook_we_answer_with_patient_and_coverage_prefetch(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(discovery_public=True)
    services = {s["hook"]: s for s in client.get("/cds-services").json()["services"]}
    assert set(services) == {"order-select", "order-sign", "appointment-book", "order-dispatch"}
    standard = {"patient": "Patient/{{context.patientId}}",
                "coverage": "Coverage?patient={{context.patientId}}&status=active"}
    for hook, service in services.items():
        assert service["prefetch"].items() >= standard.items()
        if hook in ("order-select", "order-sign"):
            assert service["prefetch"] == standard
        assert service["usageRequirements"]
        options = {o["code"]: o for o in service["extension"]["davinci-crd.configuration-options"]}
        assert set(options) == {"coverage-info", "guideline", "max-cards"}
        assert options["max-cards"]["type"] == "integer"


def test_every_card_link_opens_the_policy_page_at_its_anchor(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-commercial-colorectal-liver-metastases")
                ).json()["cards"][0]
    for link in card["links"]:
        path, _, anchor = link["url"].removeprefix("https://cds.payer.example").partition("#")
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        if anchor:
            assert f'id="{anchor}"' in page.text
    assert "liver metastases from colorectal cancer" in page.text
    assert "Provider Update, December 2021" in page.text


def test_policy_index_and_unknown_policy(client: TestClient) -> None:
    index = client.get("/policies")
    assert index.headers["content-type"].startswith("text/html")
    assert 'href="https://cds.payer.example/policies/cryosurgical-ablation-liver-tumors"' \
        in index.text
    assert client.get("/policies/nope").json()["resourceType"] == "OperationOutcome"


def test_override_reason_code_system_lists_every_reason_offered(client: TestClient) -> None:
    card = call(client, example("order-sign-47383-commercial-hepatocellular-carcinoma")
                ).json()["cards"][0]
    system = card["overrideReasons"][0]["system"]
    code_system = client.get(system.removeprefix("https://cds.payer.example")).json()
    assert code_system["url"] == system
    concepts = {c["code"]: c["display"] for c in code_system["concept"]}
    assert concepts == {r["code"]: r["display"] for r in card["overrideReasons"]}


def test_health_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
