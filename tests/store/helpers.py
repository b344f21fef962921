"""Building decision records from the fhir_examples requests, as the service does."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from cds_service.api.hooks import parse_request
from cds_service.auth.client import Client
from cds_service.evaluate import Evaluation, Evaluator
from cds_service.hooks.registry import SERVICES, ServiceDefinition
from cds_service.hooks.request import HookRequest
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.store.records import DecisionRecord, decision_record
from tests.support import example

KNOWLEDGE = load_knowledge(None, None)
BASE_URL = "https://cds.payer.example"
COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
EHR = Client(iss="https://ehr.example/issuer", tenant="tenant-1", jti="jti-1")
WHEN = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


def counter_ids(prefix: str = "00000000-0000-4000-8000-") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):012d}"


def evaluate(body: dict[str, Any] | str, *, new_id: Callable[[], str] | None = None,
             knowledge: Knowledge = KNOWLEDGE,
             ) -> tuple[ServiceDefinition, HookRequest, Evaluation]:
    request = parse_request(example(body) if isinstance(body, str) else body)
    service = next(s for s in SERVICES.values() if s.hook == request.hook)
    evaluator = Evaluator(knowledge, public_base_url=BASE_URL,
                          **({"new_id": new_id} if new_id else {}),
                          today=lambda: date(2026, 11, 25))
    return service, request, asyncio.run(evaluator.evaluate(request, service, fetcher=None))


def record_for(body: dict[str, Any] | str, *, client: Client = EHR, when: datetime = WHEN,
               new_id: Callable[[], str] | None = None,
               knowledge: Knowledge = KNOWLEDGE) -> DecisionRecord:
    service, request, evaluation = evaluate(body, new_id=new_id, knowledge=knowledge)
    return decision_record(service, request, client, evaluation, recorded_at=when)


def assertion_ids(response: dict[str, Any]) -> list[str]:
    """The coverage-assertion-id of every coverage-information extension in a hook response."""
    found = []
    for action in response.get("systemActions", ()):
        for ext in action.get("resource", {}).get("extension", ()):
            if ext.get("url") == COVERAGE_INFORMATION:
                found += [e["valueString"] for e in ext["extension"]
                          if e["url"] == "coverage-assertion-id"]
    return found
