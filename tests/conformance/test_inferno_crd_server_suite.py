"""The Inferno Da Vinci CRD server suite (inferno-framework/davinci-crd-test-kit @1d1f2c43, which
tests CRD 2.0.1), run against the service as a tester would: a real ``cds-service serve`` process
over HTTPS with a self-signed certificate, production settings, authentication on, every call
with a fresh ES384 JWT (aud = the service URL, new jti, exp +5 min) as the suite signs them.

The requests are the suite's own preset bodies (config/presets/ri_crd_server.json.erb, in
shared/reference/crd) plus, because the suite asks the tester to "supply bodies that trigger each
response type" and none of the presets orders anything our policy covers, our example requests as
a 2.0.1 client sends them (no ``davinci-crd.requestedVersion``). Each test below is one of the
suite's, named after its id; the README's conformance section lists them with pass/skip.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.auth.ehr import BASE, EHR
from tests.ops.processes import production, start, stop, wait_ready
from tests.ops.test_tls import client_context, self_signed
from tests.support import EXAMPLE_PAYER, EXAMPLE_POLICIES

from . import inferno_suite as suite
from .data import EXAMPLES, REFERENCE, SERVICE_IDS, load_json

pytestmark = pytest.mark.slow

PRESETS = {
    "appointment-book": ["inferno_ri-preset_appointment-book-0_request.json",
                         "inferno_ri-preset_appointment-book-1_request.json"],
    "order-dispatch": ["inferno_ri-preset_order-dispatch-0_request.json",
                       "inferno_ri-preset_order-dispatch-1_request.json"],
    "order-select": ["inferno_ri-preset_order-select_medicationrequest-azathioprine_request.json"],
    "order-sign": ["inferno_ri-preset_order-sign_devicerequest-E0250_request.json",
                   "inferno_ri-preset_order-sign_servicerequest-G0180_request.json"],
}
OURS = {
    "appointment-book": ["appointment-book-47383-medicare-advantage-based-on-service-request",
                         "appointment-book-47381-commercial-service-type"],
    "order-dispatch": ["order-dispatch-47381-commercial-neuroendocrine-liver-metastases"],
    "order-select": ["order-select-47383-medicare-advantage-hepatocellular-carcinoma"],
    "order-sign": ["order-sign-47383-medicare-advantage-hepatocellular-carcinoma",
                   "order-sign-47383-unknown-plan", "order-sign-mixed-orders"],
}
OF_THE_EXAMPLE_PAYER = {
    # An example policy's prior authorization with documentation: the Instructions card. Sent to
    # the fictional example payer's own deployment (CDS_POLICY_DIR=fhir_examples/policies,
    # CDS_PAYER_FILE=fhir_examples/payer.yaml): one service answers for one payer.
    "order-sign": ["order-sign-79445-commercial-hepatocellular-carcinoma"],
}
HOOKS = sorted(PRESETS)


@dataclass
class Exchange:
    name: str
    hook: str
    request: dict[str, Any]
    status: int
    body: Any
    jti: str


@dataclass
class Run:
    tls_version: str | None
    discovery_status: int
    discovery: Any
    exchanges: list[Exchange]

    def hook(self, hook: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.hook == hook]


def as_2_0_1_client(name: str) -> dict[str, Any]:
    body: dict[str, Any] = load_json(EXAMPLES / "requests" / f"{name}.json")
    body.pop("extension", None)  # a 2.0.1 client knows no requestedVersion
    body["hookInstance"] = str(uuid.uuid4())
    return body


def bodies(ours: dict[str, list[str]] = OURS, *, presets: bool = True,
           ) -> list[tuple[str, str, dict[str, Any]]]:
    out = [(name, hook, load_json(REFERENCE / "crd" / name))
           for hook, names in (PRESETS if presets else {}).items() for name in names]
    out += [(name, hook, as_2_0_1_client(name)) for hook, names in ours.items()
            for name in names]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The service with its bundled policies and payer file: the presets and our requests."""
    yield from _run(tmp_path_factory.mktemp("inferno"), bodies())


@pytest.fixture(scope="module")
def examples_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The fictional example payer's deployment: its members' requests."""
    yield from _run(tmp_path_factory.mktemp("inferno-examples"),
                    bodies(OF_THE_EXAMPLE_PAYER, presets=False),
                    CDS_POLICY_DIR=str(EXAMPLE_POLICIES), CDS_PAYER_FILE=str(EXAMPLE_PAYER))


def _run(tmp_path: Path, sent: list[tuple[str, str, dict[str, Any]]],
         **settings: str) -> Iterator[Run]:
    cert_file, key_file = self_signed(tmp_path)
    ehr = EHR()
    env = production(tmp_path, ehr, CDS_TLS_CERT_FILE=str(cert_file),
                     CDS_TLS_KEY_FILE=str(key_file), **settings)
    served = start(env, tmp_path)
    base = f"https://127.0.0.1:{served.port}"
    verify = client_context(cert_file)
    try:
        wait_ready(served, base=base, verify=verify)
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw, \
                verify.wrap_socket(raw, server_hostname="localhost") as conn:
            tls_version = conn.version()
        # Discovery answers authenticated callers here (the suite's "discovery requires
        # authentication: yes", which attaches a JWT whose aud is the discovery URL).
        discovery = httpx2.get(f"{base}/cds-services", timeout=10, verify=verify, headers={
            "Authorization": f"Bearer {ehr.token(f'{BASE}/cds-services')}"})
        exchanges = []
        for name, hook, request in sent:
            service = SERVICE_IDS[hook]
            jti = str(uuid.uuid4())  # one fresh token per request, as the suite signs them
            token = ehr.token(f"{BASE}/cds-services/{service}", jti=jti)
            response = httpx2.post(f"{base}/cds-services/{service}", json=request, timeout=30,
                                   verify=verify, headers={"Authorization": f"Bearer {token}",
                                                           "Content-Type": "application/json"})
            exchanges.append(Exchange(name, hook, request, response.status_code,
                                      _json(response), jti))
        yield Run(tls_version, discovery.status_code, _json(discovery), exchanges)
    finally:
        stop(served)


def _json(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# -- 1 Discovery ----------------------------------------------------------------------------------

def test_tls_version_1_2_or_above(run: Run) -> None:
    assert run.tls_version in ("TLSv1.2", "TLSv1.3")


def test_crd_discovery_endpoint(run: Run) -> None:
    assert run.discovery_status == 200
    assert isinstance(run.discovery, dict)


def test_crd_discovery_services_validation(run: Run) -> None:
    services = run.discovery["services"]
    assert isinstance(services, list) and services
    for service in services:
        assert all(isinstance(service.get(k), str) for k in ("hook", "description", "id"))
    assert {s["hook"] for s in services} >= set(HOOKS)


# -- 2, 3 Hook groups -----------------------------------------------------------------------------

@pytest.mark.parametrize("hook", HOOKS)
def test_crd_service_call(run: Run, hook: str) -> None:
    for e in run.hook(hook):
        assert e.status == 200, (e.name, e.body)
        assert isinstance(e.body, dict), e.name


@pytest.mark.parametrize("hook", HOOKS)
def test_crd_service_request_required_fields_validation(run: Run, hook: str) -> None:
    for e in run.hook(hook):
        assert suite.request_required_fields(e.request) == [], e.name


@pytest.mark.parametrize("hook", HOOKS)
def test_crd_service_response_validation(run: Run, hook: str) -> None:
    for e in run.hook(hook):
        assert suite.response_errors(hook, e.body) == [], e.name


@pytest.mark.parametrize("hook", HOOKS)
def test_crd_card_optional_fields_validation(run: Run, hook: str) -> None:
    for e in run.hook(hook):
        for card in e.body["cards"]:
            assert suite.card_optional_errors(card) == [], e.name


@pytest.mark.parametrize("hook", ["appointment-book", "order-dispatch", "order-sign"])
def test_crd_coverage_info_system_action_received(run: Run, hook: str) -> None:
    # The suite asks it of every response of a primary hook.
    for e in run.hook(hook):
        assert suite.coverage_info_actions(hook, e.body), e.name


@pytest.mark.parametrize("hook", HOOKS)
def test_crd_coverage_info_system_action_validation(run: Run, hook: str) -> None:
    checked = 0
    for e in run.hook(hook):
        for action in suite.coverage_info_actions(hook, e.body):
            assert suite.coverage_info_action_errors(action, "2.0.1") == [], e.name
            checked += 1
    assert checked, f"no coverage information to validate for {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_crd_external_reference_card_validation(run: Run, hook: str) -> None:
    cards = [c for e in run.hook(hook) for c in e.body["cards"]]
    assert any(suite.is_external_reference(c) for c in cards), hook


# -- 3.7 Required card response validation (across hooks) -----------------------------------------

def test_crd_valid_external_reference_card_received_across_hooks(run: Run) -> None:
    cards = [c for e in run.exchanges for c in e.body["cards"]]
    assert any(suite.is_external_reference(c) and not suite.card_optional_errors(c)
               for c in cards)


def test_crd_coverage_info_system_action_across_hooks_validation(run: Run) -> None:
    actions = [a for e in run.exchanges for a in suite.coverage_info_actions(e.hook, e.body)]
    assert actions
    assert all(suite.coverage_info_action_errors(a, "2.0.1") == [] for a in actions)


def test_crd_valid_instructions_card_received_across_hooks(run: Run, examples_run: Run) -> None:
    cards = [c for r in (run, examples_run) for e in r.exchanges for c in e.body["cards"]]
    # The suite skips this test when no hook returned one; the example policies' prior
    # authorization with documentation gets one.
    assert any(suite.is_instructions(c) for c in cards)
    assert all(card_errors == [] for card_errors in
               (suite.card_errors(c) for c in cards if suite.is_instructions(c)))


def test_the_example_payers_answers_pass_the_suites_checks(examples_run: Run) -> None:
    assert examples_run.exchanges
    for e in examples_run.exchanges:
        assert e.status == 200, (e.name, e.body)
        assert suite.response_errors(e.hook, e.body) == [], e.name
        assert all(suite.card_optional_errors(c) == [] for c in e.body["cards"]), e.name
        actions = suite.coverage_info_actions(e.hook, e.body)
        assert actions, e.name
        assert all(suite.coverage_info_action_errors(a, "2.0.1") == [] for a in actions), e.name


# -- the calls themselves -------------------------------------------------------------------------

def test_every_call_carried_its_own_token(run: Run) -> None:
    jtis = [e.jti for e in run.exchanges]
    assert len(jtis) == len(set(jtis)) == len(bodies())


def test_the_2_0_1_order_dispatch_context_is_read(run: Run) -> None:
    # Inferno's 2.0.1 bodies name the order as context.order (the 2023 ballot hook).
    presets = [e for e in run.hook("order-dispatch") if e.name.startswith("inferno")]
    assert presets and all("order" in e.request["context"] for e in presets)
    for e in presets:
        [action] = suite.coverage_info_actions("order-dispatch", e.body)
        assert action["resource"]["id"] == e.request["context"]["order"].split("/")[1]


def test_appointment_book_assertions_sit_on_the_appointment_for_2_0_1(run: Run) -> None:
    for e in run.hook("appointment-book"):
        appointments = {f"Appointment/{x['resource']['id']}"
                        for x in e.request["context"]["appointments"]["entry"]}
        targets = {f"Appointment/{a['resource']['id']}"
                   for a in suite.coverage_info_actions("appointment-book", e.body)}
        assert targets == appointments, e.name

