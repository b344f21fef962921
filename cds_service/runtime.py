"""Everything one running service shares across requests, built once from the settings.

Areas: knowledge + evaluator (policies; reloaded while serving, ``reload.py``), trust
(authenticator, replay store, outbound FHIR client), records (decision and feedback store).
``startup``/``shutdown`` run in the app lifespan.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from cds_service.auth.client import Authenticator, Client, PendingJti
from cds_service.auth.operators import OperatorTokens
from cds_service.auth.replay import MemoryReplayStore, ReplayStore
from cds_service.auth.verify import build_authenticator, replayed
from cds_service.config import Settings
from cds_service.errors import ServiceError
from cds_service.evaluate import Evaluation, Evaluator
from cds_service.fhir.client import OutboundHTTP, fetcher_for
from cds_service.fhir.data import Fetcher
from cds_service.fhir.orders import ORDER_TYPES
from cds_service.fhir.validate import prepare as prepare_validation
from cds_service.hooks.registry import ServiceDefinition
from cds_service.hooks.request import HookRequest
from cds_service.knowledge import Knowledge, check_payer_identity, load_knowledge
from cds_service.reload import Reloader
from cds_service.store.db import Timeouts
from cds_service.store.records import decision_record, refusal_record
from cds_service.store.service import Records

log = logging.getLogger("cds_service")
FULL_COLLECTION_EVERY = 100
"""Collections of the middle generation between two full ones (CPython's default: 10)."""


@dataclass
class Runtime:
    settings: Settings
    evaluator: Evaluator
    """Answers hook calls from the knowledge it holds; replaced whole when the files are
    reloaded (``use``), so a call keeps the one it started with."""
    authenticator: Authenticator
    replay: ReplayStore
    records: Records | None = None
    """Decision records, feedback and the shared replay store; None when
    CDS_RECORD_DECISIONS=false."""
    outbound: OutboundHTTP = field(init=False)
    """The process's one outbound HTTP client (EHR FHIR servers, clients' JWK Sets)."""
    operators: OperatorTokens = field(init=False)
    """Who may read payer-wide records over HTTP (not the EHRs)."""
    reloader: Reloader = field(init=False)
    """Reloads the policy and payer files on SIGHUP and when they change."""

    @property
    def knowledge(self) -> Knowledge:
        return self.evaluator.knowledge

    def use(self, knowledge: Knowledge) -> None:
        """Answer from now on with ``knowledge`` (a whole, checked set)."""
        self.evaluator = self.evaluator.with_knowledge(knowledge)

    @classmethod
    def build(cls, settings: Settings, *,
              transport: httpx2.AsyncBaseTransport | None = None) -> Runtime:
        """``transport`` stands in for the network in outbound HTTP (tests)."""
        knowledge = load_knowledge(settings.policy_dir, settings.payer_file)
        check_payer_identity(settings, knowledge)
        evaluator = Evaluator(knowledge, public_base_url=settings.public_base_url,
                              accept_any_payer=settings.accept_any_payer)
        records = _records(settings) if settings.record_decisions else None
        replay = _replay_store(settings, records)
        outbound = OutboundHTTP(settings, transport)
        runtime = cls(settings, evaluator,
                      _authenticator(settings, replay, outbound), replay, records)
        runtime.outbound = outbound
        runtime.reloader = Reloader(runtime)
        runtime.operators = OperatorTokens(settings.operator_token_sha256,
                                           open_to_all=not settings.auth_enabled)
        return runtime

    async def startup(self) -> None:
        await self.outbound.start()
        self.reloader.start()
        if self.records is not None:
            await self.records.open()
        prepare_validation(ORDER_TYPES)  # before gc.freeze: its tables live as long
        # Everything loaded so far (modules, FHIR models, policies) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise walk it on every request
        # burst (a latency spike of tens of ms at p99).
        gc.freeze()
        # A full pass still walks what the process built since (about 2.5 ms here) and, with
        # the default threshold, came every 70 calls of 50 orders: one in ten as often. Calls
        # leave little cyclic garbage (the memory soak in bench/ stays flat).
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)

    async def shutdown(self) -> None:
        await self.reloader.stop()
        await self.outbound.aclose()
        if self.records is not None:
            await self.records.close()

    # --- trust -------------------------------------------------------------------------------

    async def authenticate_call(self, authorization: str | None, audience: str) -> Client:
        """A hook call's caller. With records on, its jti is claimed by the call's one write
        (``record``/``record_refusal``, or ``claim`` before the call's first FHIR query), so a
        call costs one database round trip; no answer leaves before that write commits, so a
        replay is still refused, by the database, across workers and instances."""
        return await self.authenticator.authenticate(authorization, [audience],
                                                     claim=self.records is None)

    async def claim(self, client: Client) -> None:
        """Claim a deferred jti now (before anything leaves this service on the call's behalf:
        a replayed request must not make us query the EHR with its access token)."""
        pending = client.pending
        if pending is None or pending.claimed:
            return
        async with pending.lock:
            if pending.claimed:
                return
            if not await self.replay.first_use(pending.iss, pending.jti, pending.expires_at):
                raise replayed(pending.iss, pending.jti)
            pending.claimed = True

    def fetcher_for(self, request: HookRequest, client: Client) -> Fetcher | None:
        fetcher = fetcher_for(self.settings, self.outbound.client, request, client)
        if fetcher is None or client.pending is None:
            return fetcher
        return _ClaimFirst(fetcher, lambda: self.claim(client))

    # --- records -----------------------------------------------------------------------------

    async def record(self, service: ServiceDefinition, request: HookRequest, client: Client,
                     evaluation: Evaluation) -> None:
        """Commit the decision record before the caller answers (Da Vinci CRD §found-37: log
        every invocation and response); if it cannot be stored the call fails rather than
        answering without a record."""
        if self.records is None:
            return
        pending = _unclaimed(client)
        if not await self.records.record_decision(
                decision_record(service, request, client, evaluation,
                                recorded_at=self.records.clock()),
                (pending.iss, pending.jti, pending.expires_at) if pending else None):
            assert pending is not None
            raise replayed(pending.iss, pending.jti)
        if pending is not None:
            pending.claimed = True

    async def record_refusal(self, service: ServiceDefinition, request: HookRequest | None,
                             client: Client, error: ServiceError) -> None:
        """Refused calls are kept too (CRD §found-37: every invocation and its response), with
        what the caller sent made storable (store/safe.py). If the database cannot take it, the
        caller still gets its 4xx; the loss is logged and counted
        (``cds_records_not_written_total{record="refusal"}``, by the writer)."""
        if self.records is None:
            return
        pending = _unclaimed(client)
        try:
            first_use = await self.records.record_decision(refusal_record(
                service, request, client, error, recorded_at=self.records.clock()),
                (pending.iss, pending.jti, pending.expires_at) if pending else None)
        except Exception as exc:
            log.error("refused call not recorded: %s", type(exc).__name__)
            return
        if pending is None:
            return
        if not first_use:
            raise replayed(pending.iss, pending.jti)
        pending.claimed = True

    async def readiness(self) -> dict[str, bool]:
        checks = {"policies": len(self.knowledge.policies) > 0}
        if self.records is not None:
            checks["database"] = await self.records.ready()
        return checks


def _unclaimed(client: Client) -> PendingJti | None:
    return client.pending if client.pending is not None and not client.pending.claimed else None


class _ClaimFirst:
    """A call's fetcher that claims the call's deferred jti before its first query."""

    def __init__(self, fetcher: Fetcher, claim: Callable[[], Awaitable[None]]) -> None:
        self._fetcher = fetcher
        self._claim = claim

    async def search(self, relative_url: str) -> list[dict[str, Any]]:
        await self._claim()
        return await self._fetcher.search(relative_url)

    async def read(self, reference: str) -> dict[str, Any] | None:
        await self._claim()
        return await self._fetcher.read(reference)


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
