"""Operations tests: real ``cds-service serve`` processes (tests/ops/processes.py). The
PostgreSQL cases take ``postgres_url``, a database of their own on the server named by
``CDS_TEST_POSTGRES_URL`` (tests/store/databases.py), and skip without it outside CI.

A module marked ``usefixtures("each_http_stack")`` runs each of its tests once on each of
uvicorn's HTTP implementations the service can serve with (``CDS_HTTP_IMPLEMENTATION``): the
limits and the answers must not depend on the parser.
"""

import pytest

from cds_service.config import HttpImplementation
from tests.ops import processes
from tests.store.databases import postgres_url

__all__ = ["each_http_stack", "postgres_url"]


@pytest.fixture(params=[str(stack) for stack in HttpImplementation])
def each_http_stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(processes, "HTTP_IMPLEMENTATION", request.param)
    return str(request.param)
