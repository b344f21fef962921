"""Discovery (CDS Hooks 2.0 §Discovery, §Prefetch tokens) with the Da Vinci CRD extensions
``davinci-crd.version`` and ``davinci-crd.configuration-options`` (CRD §dev-1..9)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .cds_hooks import empty_value_problems
from .conftest import Call
from .data import REFERENCE, SERVICE_IDS, example_requests, load_json

# 2.0 §Prefetch tokens: the context's patientId, userId and encounterId (the user* tokens are
# for Practitioner/PractitionerRole/... only and not used by an order service).
ALLOWED_TOKENS = {"context.patientId", "context.userId", "context.encounterId"}
# CRD 2.2.1 deviations.md: versions are "the first two nodes ... (i.e. 2.0, not 2.0.0 or 2.0.1)".
# (Its crdver-1 regex ^[1-9]\d*\.[1-9]\d*$ would refuse the very "2.0" the text gives as the
# example, so the text is followed.)
VERSION = re.compile(r"^[1-9]\d*\.\d+$")
JSON_TYPES = {"boolean": bool, "integer": int}


@pytest.fixture
def services(cds_client: TestClient) -> dict[str, dict[str, Any]]:
    response = cds_client.get("/cds-services")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert empty_value_problems(body) == []
    return {s["hook"]: s for s in body["services"]}


def test_discovery_lists_order_select_and_order_sign(services: dict[str, Any]) -> None:
    assert set(services) >= set(SERVICE_IDS)
    for hook, service_id in SERVICE_IDS.items():
        assert services[hook]["id"] == service_id


@pytest.mark.parametrize("hook", sorted(SERVICE_IDS))
def test_service_has_hook_id_title_and_description(services: dict[str, Any], hook: str) -> None:
    service = services[hook]
    for key in ("hook", "id", "title", "description"):
        assert isinstance(service.get(key), str) and service[key].strip(), key
    assert re.fullmatch(r"[A-Za-z0-9\-.]+", service["id"]), "the id is a URL path segment"


CRD_STANDARD = {s["hook"]: s["prefetch"] for s in load_json(
    REFERENCE / "crd" / "ig-2.2.1_cds-services_discovery.json")["services"]}


@pytest.mark.parametrize("hook", sorted(SERVICE_IDS))
def test_prefetch_templates_are_the_crd_standard_ones(
        services: dict[str, Any], hook: str) -> None:
    # CRD 2.2 §found-29: servers SHALL use the standard prefetch expressions for what they need.
    prefetch = services[hook]["prefetch"]
    assert prefetch
    for key, template in prefetch.items():
        assert CRD_STANDARD[hook][key] == template, key


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_prefetch_templates_of_the_sandbox_hooks_use_only_cds_hooks_2_0_context_tokens(
        services: dict[str, Any], hook: str) -> None:
    # The CDS Hooks sandbox (2.0) fills only {{context.x}} tokens; it calls these two hooks.
    prefetch = services[hook]["prefetch"]
    assert prefetch and all(isinstance(t, str) for t in prefetch.values())
    tokens = {t.strip() for template in prefetch.values()
              for t in re.findall(r"\{\{(.*?)\}\}", template)}
    assert tokens <= ALLOWED_TOKENS, tokens - ALLOWED_TOKENS
    assert "{{" not in re.sub(r"\{\{.*?\}\}", "", "".join(prefetch.values()))


@pytest.mark.parametrize("hook", sorted(SERVICE_IDS))
def test_crd_versions_are_a_list_of_major_minor_strings(
        services: dict[str, Any], hook: str) -> None:
    versions = services[hook]["extension"]["davinci-crd.version"]
    assert isinstance(versions, list) and versions
    assert all(isinstance(v, str) and VERSION.match(v) for v in versions), versions
    assert len(versions) == len(set(versions))
    # §dev-2: every version the service answers is declared: STU 2.0.1, 2.1 and 2.2.
    assert versions == ["2.0", "2.1", "2.2"]


@pytest.mark.parametrize("hook", sorted(SERVICE_IDS))
def test_configuration_options_are_complete_unique_and_typed(
        services: dict[str, Any], hook: str) -> None:
    options = services[hook]["extension"]["davinci-crd.configuration-options"]
    assert isinstance(options, list) and options
    for option in options:
        assert set(option) == {"code", "type", "name", "description", "default"}, option
        assert option["type"] in JSON_TYPES, option
        kind = JSON_TYPES[option["type"]]
        assert isinstance(option["default"], kind) and (
            kind is bool or not isinstance(option["default"], bool)), option
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", option["code"]), option
    for key in ("code", "name", "description"):
        values = [o[key] for o in options]
        assert len(values) == len(set(values)), f"{key}s must be unique: {values}"
    by_code = {o["code"]: o for o in options}
    assert by_code["coverage-info"]["type"] == "boolean"
    assert by_code["max-cards"]["type"] == "integer"


def test_configuration_options_mean_the_same_in_every_service(services: dict[str, Any]) -> None:
    codes: dict[str, dict[str, Any]] = {}
    for service in services.values():
        for option in service["extension"]["davinci-crd.configuration-options"]:
            assert codes.setdefault(option["code"], option) == option


def test_every_card_topic_we_return_has_a_boolean_option(
        services: dict[str, Any], call: Call) -> None:
    topics: set[tuple[str, str]] = set()
    for path in example_requests():
        request = load_json(path)
        response = call(request)
        assert response.status_code == 200, f"{path.name}: {response.text}"
        topics |= {(request["hook"], c["source"]["topic"]["code"])
                   for c in response.json()["cards"]}
    assert topics, "no example request produced a card"
    for hook, code in sorted(topics):
        options = {o["code"]: o for o in
                   services[hook]["extension"]["davinci-crd.configuration-options"]}
        assert code in options and options[code]["type"] == "boolean", (hook, code)
