"""Everything one running service shares across requests, built once from the settings.

Areas: knowledge + evaluator (policies), trust (authenticator, replay store, outbound FHIR
client), records (decision and feedback store). ``startup``/``shutdown`` run in the app lifespan.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field

import httpx2

from cds_service.auth.client import Authenticator, Client
from cds_service.auth.operators import OperatorTokens
from cds_service.auth.replay import MemoryReplayStore, ReplayStore
from cds_service.auth.verify import build_authenticator
from cds_service.config import Settings
from cds_service.errors import ServiceError
from cds_service.evaluate import Evaluation, Evaluator
from cds_service.fhir.client import OutboundHTTP, fetcher_for
from cds_service.fhir.data import Fetcher
from cds_service.hooks.registry import ServiceDefinition
from cds_service.hooks.request import HookRequest
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.store.db import Timeouts
from cds_service.store.records import decision_record, refusal_record
from cds_service.store.service import Records

log = logging.getLogger("cds_service")


@dataclass
class Runtime:
    settings: Settings
    knowledge: Knowledge
    evaluator: Evaluator
    authenticator: Authenticator
    replay: ReplayStore
    records: Records | None = None
    """Decision records, feedback and the shared replay store; None when
    CDS_RECORD_DECISIONS=false."""
    outbound: OutboundHTTP = field(init=False)
    """The process's one outbound HTTP client (EHR FHIR servers, clients' JWK Sets)."""
    operators: OperatorTokens = field(init=False)
    """Who may read payer-wide records over HTTP (not the EHRs)."""

    @classmethod
    def build(cls, settings: Settings, *,
              transport: httpx2.AsyncBaseTransport | None = None) -> Runtime:
        """``transport`` stands in for the network in outbound HTTP (tests)."""
        knowledge = load_knowledge(settings.policy_dir, settings.payer_file)
        evaluator = Evaluator(knowledge, public_base_url=settings.public_base_url)
        records = _records(settings) if settings.record_decisions else None
        replay = _replay_store(settings, records)
        outbound = OutboundHTTP(settings, transport)
        runtime = cls(settings, knowledge, evaluator,
                      _authenticator(settings, replay, outbound), replay, records)
        runtime.outbound = outbound
        runtime.operators = OperatorTokens(settings.operator_token_sha256,
                                           open_to_all=not settings.auth_enabled)
        return runtime

    async def startup(self) -> None:
        await self.outbound.start()
        if self.records is not None:
            await self.records.open()
        # Everything loaded so far (modules, FHIR models, policies) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise walk it on every request
        # burst (a latency spike of tens of ms at p99).
        gc.freeze()

    async def shutdown(self) -> None:
        await self.outbound.aclose()
        if self.records is not None:
            await self.records.close()

    # --- trust -------------------------------------------------------------------------------

    def fetcher_for(self, request: HookRequest, client: Client) -> Fetcher | None:
        return fetcher_for(self.settings, self.outbound.client, request, client)

    # --- records -----------------------------------------------------------------------------

    async def record(self, service: ServiceDefinition, request: HookRequest, client: Client,
                     evaluation: Evaluation) -> None:
        """Commit the decision record before the caller answers (Da Vinci CRD §found-37: log
        every invocation and response); if it cannot be stored the call fails rather than
        answering without a record."""
        if self.records is None:
            return
        await self.records.record_decision(
            decision_record(service, request, client, evaluation, recorded_at=self.records.clock()))

    async def record_refusal(self, service: ServiceDefinition, request: HookRequest | None,
                             client: Client, error: ServiceError) -> None:
        """Refused calls are kept too (CRD §found-37: every invocation and its response), with
        what the caller sent made storable (store/safe.py). If the database cannot take it, the
        caller still gets its 4xx; the loss is logged and counted
        (``cds_records_not_written_total{record="refusal"}``, by the writer)."""
        if self.records is None:
            return
        try:
            await self.records.record_decision(refusal_record(
                service, request, client, error, recorded_at=self.records.clock()))
        except Exception as exc:
            log.error("refused call not recorded: %s", type(exc).__name__)

    async def readiness(self) -> dict[str, bool]:
        checks = {"policies": len(self.knowledge.policies) > 0}
        if self.records is not None:
            checks["database"] = await self.records.ready()
        return checks


def _records(settings: Settings) -> Records:
    return Records(settings.database_url,
                   timeouts=Timeouts(connect=settings.database_connect_timeout_seconds,
                                     statement=settings.database_statement_timeout_seconds),
                   commit_timeout=settings.database_commit_timeout_seconds,
                   readiness_timeout=settings.readiness_timeout_seconds)


def _authenticator(settings: Settings, replay: ReplayStore,
                   outbound: OutboundHTTP) -> Authenticator:
    return build_authenticator(settings, replay, outbound.client)


def _replay_store(settings: Settings, records: Records | None) -> ReplayStore:
    # With records on, the replay store lives in the same database, so every worker and
    # instance sharing it also shares the seen jti (one process alone cannot stop a replay
    # sent to its neighbour).
    return records.replay if records is not None else MemoryReplayStore()
