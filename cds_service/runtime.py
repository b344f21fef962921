"""Everything one running service shares across requests, built once from the settings.

Areas: knowledge + evaluator (policies), trust (authenticator, replay store, outbound FHIR
client), records (decision and feedback store). ``startup``/``shutdown`` run in the app lifespan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cds_service.auth.client import Authenticator, Client, DevelopmentNoAuth
from cds_service.auth.replay import MemoryReplayStore, ReplayStore
from cds_service.config import Settings
from cds_service.evaluate import Evaluation, Evaluator
from cds_service.fhir.data import Fetcher
from cds_service.hooks.registry import ServiceDefinition
from cds_service.hooks.request import HookRequest
from cds_service.knowledge import Knowledge, load_knowledge

log = logging.getLogger("cds_service")


@dataclass
class Runtime:
    settings: Settings
    knowledge: Knowledge
    evaluator: Evaluator
    authenticator: Authenticator
    replay: ReplayStore

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        knowledge = load_knowledge(settings.policy_dir, settings.payer_file)
        evaluator = Evaluator(knowledge, public_base_url=settings.public_base_url)
        replay = _replay_store(settings)
        return cls(settings, knowledge, evaluator, _authenticator(settings, replay), replay)

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    # --- trust -------------------------------------------------------------------------------

    def fetcher_for(self, request: HookRequest, client: Client) -> Fetcher | None:
        return None

    # --- records -----------------------------------------------------------------------------

    async def record(self, service: ServiceDefinition, request: HookRequest, client: Client,
                     evaluation: Evaluation) -> None:
        return None

    async def readiness(self) -> dict[str, bool]:
        return {"policies": len(self.knowledge.policies) > 0}


def _authenticator(settings: Settings, replay: ReplayStore) -> Authenticator:
    return DevelopmentNoAuth()


def _replay_store(settings: Settings) -> ReplayStore:
    return MemoryReplayStore()
