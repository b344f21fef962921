"""The service with decision records on, on each test database (tests/store/databases.py), and
an authenticator that records what it was asked (the JWT verifier has its own suite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.auth.client import Client
from cds_service.errors import Unauthorized
from cds_service.main import create_app
from cds_service.runtime import Runtime
from tests.store.databases import database_url, migrated_url
from tests.store.helpers import EHR
from tests.support import settings_for

__all__ = ["database_url", "migrated_url"]


@dataclass
class RecordingAuthenticator:
    client: Client = EHR
    refuse: bool = False
    calls: list[tuple[str | None, list[str]]] = field(default_factory=list)

    async def authenticate(self, authorization: str | None, audiences: Sequence[str], *,
                           claim: bool = True) -> Client:
        self.calls.append((authorization, list(audiences)))
        if self.refuse:
            raise Unauthorized("refused by the test")
        return self.client


@dataclass
class Service:
    http: TestClient
    runtime: Runtime
    auth: RecordingAuthenticator


@pytest.fixture
def make_service(migrated_url: str, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[TestClient] = []

    def make(**overrides: Any) -> Service:
        settings = settings_for(tmp_path, **{"record_decisions": True,
                                             "database_url": migrated_url, **overrides})
        runtime = Runtime.build(settings)
        auth = RecordingAuthenticator()
        runtime.authenticator = auth
        http = TestClient(create_app(settings, runtime))
        http.__enter__()
        started.append(http)
        return Service(http, runtime, auth)

    yield make
    for http in started:
        http.__exit__(None, None, None)


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service()
