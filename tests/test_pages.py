"""Discovery and the public pages cards link to."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.support import assert_outcome, call, example


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
    offered: dict[str, str] = {}
    for name in ("order-sign-47383-commercial-hepatocellular-carcinoma",
                 "order-sign-47383-medicare-advantage-hepatocellular-carcinoma"):
        card = call(client, example(name)).json()["cards"][0]
        offered.update({r["code"]: r["display"] for r in card["overrideReasons"]})
    system = card["overrideReasons"][0]["system"]
    code_system = client.get(system.removeprefix("https://cds.payer.example")).json()
    assert code_system["url"] == system
    concepts = {c["code"]: c["display"] for c in code_system["concept"]}
    assert concepts == offered


def test_health_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_probes_answer_head_as_load_balancers_send_it(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"


def test_policy_page_shows_codes_indications_override_reasons_and_updates(
        client: TestClient) -> None:
    page = client.get("/policies/cryosurgical-ablation-liver-tumors").text
    codes = page.split('id="codes"')[1].split("</table>")[0]
    assert '<th scope="col">Code</th>' in codes and '<th scope="col">Description</th>' in codes
    for code in ("47371", "47381", "47383"):
        assert f"<code>{code}</code>" in codes
    colorectal = page.split('id="evidence-colorectal-liver-metastases"')[1].split("</table>")[0]
    assert "ICD-10-CM" in colorectal
    assert "C78.7" in colorectal and "C18 and codes under it, C19, C20" in colorectal
    assert "Group 2 of 2" in colorectal
    reasons = page.split('id="override-reasons"')[1].split("<h2")[0]
    # Per plan type, from the payer file, each with its source.
    ma, commercial = reasons.split("<h3>Medicare Advantage</h3>")[1].split("<h3>Commercial</h3>")
    assert "agreed in writing in advance to pay" in commercial
    assert "<code>coverage-review-requested</code>" in commercial
    assert "in writing" not in ma
    assert "organization determination" in ma and "Source: 42 CFR 422.566" in ma
    assert "Provider Update, January 2020" in page
    assert 'href="https://cds.payer.example/policies/cryosurgical-ablation-liver-tumors/preview"' \
        in page
    assert "<script" not in page and "http://" not in page.split("<body>")[0]


def test_card_preview_shows_the_cards_a_hook_call_returns(client: TestClient) -> None:
    page = client.get("/policies/cryosurgical-ablation-liver-tumors/preview")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count('<article class="card ') == 36
    assert page.text.count('<article class="card warning">') == 24
    # The same summary and quoted evidence an EHR gets for the example request.
    card = call(client, example("order-sign-47383-commercial-colorectal-liver-metastases")
                ).json()["cards"][0]
    assert card["summary"] in page.text
    assert "<blockquote>" in page.text and "**" not in page.text
    assert "<strong>Evidence: Colorectal liver metastases</strong>" in page.text
    assert client.get("/policies/nope/preview").json()["resourceType"] == "OperationOutcome"


def test_a_trailing_slash_is_a_404_never_a_redirect_built_from_the_host_header(
        client: TestClient) -> None:
    for path in ("/cds-services/", "/policies/", "/docs/"):
        response = client.get(path, headers={"Host": "attacker.example"},
                              follow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
        assert "location" not in response.headers


# -- the preview's filter form (issue 18): server-side, so it works without any script ----------

PREVIEW = "/policies/cryosurgical-ablation-liver-tumors/preview"


def shown_scenarios(page: str) -> list[str]:
    """The "member · indication" heading of each scenario section on a preview page."""
    return re.findall(r'<section class="scenario" id="[^"]+">\n<h3>(.+?) <a class="only"', page)


@pytest.mark.parametrize(("query", "count"), [
    ({}, 36),
    ({"member": "Commercial"}, 12),
    ({"code": "CPT 47383"}, 12),
    ({"indication": "Colorectal liver metastases"}, 9),
    ({"member": "plan type not mapped", "indication": "no recognised indication"}, 3),
    ({"member": "Commercial", "code": "CPT 47383", "indication": "Colorectal liver metastases"},
     1),
    ({"member": "", "code": "", "indication": ""}, 36),  # the form sent with "All" everywhere
])
def test_preview_shows_only_the_scenarios_the_filter_names(
        client: TestClient, query: dict[str, str], count: int) -> None:
    page = client.get(PREVIEW, params=query)
    assert page.status_code == 200
    shown = shown_scenarios(page.text)
    assert len(shown) == count == page.text.count('<article class="card ')
    for value in query.values():
        if value:
            assert f'<option value="{value}" selected>' in page.text
    if query.get("member"):
        assert all(h.startswith(query["member"] + " \u00b7 ") for h in shown)
    if query.get("indication"):
        assert all(h.endswith(" \u00b7 " + query["indication"]) for h in shown)
    if any(query.values()):
        assert f"Showing {count} of 36 scenarios" in page.text
    else:
        assert "Showing all 36 scenarios" in page.text


def test_each_scenario_links_to_itself_alone(client: TestClient) -> None:
    page = client.get(PREVIEW, params={"member": "Medicare Advantage", "code": "CPT 47371"}).text
    links = re.findall(r'<a class="only" href="([^"]+)"', page)
    assert len(links) == 4
    alone = client.get(links[-1].replace("&amp;", "&").removeprefix("https://cds.payer.example"))
    assert shown_scenarios(alone.text) == ["Medicare Advantage \u00b7 no recognised indication"]


@pytest.mark.parametrize("query", [{"member": "Medigap"}, {"code": "CPT 99999"},
                                   {"indication": "<script>alert(1)</script>"}])
def test_a_filter_value_no_scenario_has_is_a_400_naming_the_parameter(
        client: TestClient, query: dict[str, str]) -> None:
    [(name, value)] = query.items()
    outcome = assert_outcome(client.get(PREVIEW, params=query), 400, mentions=name)
    assert outcome["issue"][0]["expression"] == [name]
    assert value not in str(outcome)
