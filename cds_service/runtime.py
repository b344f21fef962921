"""Everything one running service shares across requests, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cds_service.auth.client import Authenticator, Client, DevelopmentNoAuth
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
    closers: list[object] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        knowledge = load_knowledge(settings.policy_dir, settings.payer_file)
        evaluator = Evaluator(knowledge, public_base_url=settings.public_base_url)
        return cls(settings, knowledge, evaluator, DevelopmentNoAuth())

    def fetcher_for(self, request: HookRequest, client: Client) -> Fetcher | None:
        return None

    async def record(self, service: ServiceDefinition, request: HookRequest, client: Client,
                     evaluation: Evaluation) -> None:
        return None

    async def readiness(self) -> dict[str, bool]:
        return {"policies": len(self.knowledge.policies) > 0}
