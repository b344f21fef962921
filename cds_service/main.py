"""The ASGI application: ``create_app(settings)`` assembles it; ``cds_service.main:app`` is the
application built from the environment (created on first access, so importing this module for
tests has no side effects)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.routing import Route

from cds_service import __version__, logs
from cds_service.api import (
    cors,
    discovery,
    errors,
    feedback,
    health,
    hooks,
    metrics,
    openapi,
    policies,
    records,
)
from cds_service.config import Settings
from cds_service.metrics import MetricsMiddleware
from cds_service.runtime import Runtime
from cds_service.server.guard import RequestGuard


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.startup()
        try:
            yield
        finally:
            await runtime.shutdown()

    # /openapi.json and /docs (Swagger UI, its assets served from the fastapi-offline package:
    # no CDN) need no token, like the policy pages.
    app = FastAPIOffline(title="Payer CDS Hooks service", version=__version__, lifespan=lifespan,
                         docs_url="/docs", redoc_url=None, openapi_url="/openapi.json",
                         static_url="/docs/static", redirect_slashes=False,
                         # FastAPI's own OpenTelemetry hooks asked the global providers on
                         # every request whether they were configured (about 20 us a call):
                         # the service's metrics are Prometheus' (/metrics), its traces none.
                         telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.runtime = runtime
    errors.install(app)
    # The hook route first: the router tries routes in order, and trying the included routers'
    # (about 30 routes) before it cost more than the hook's own JSON parsing.
    app.router.routes.insert(0, Route(hooks.PATH, hooks.call_hook, methods=["POST"]))
    for module in (discovery, feedback, policies, records, health, metrics):
        app.include_router(module.router)
    openapi.install(app)
    app.add_middleware(RequestGuard, settings=runtime.settings)
    app.add_middleware(MetricsMiddleware)
    cors.install(app, runtime.settings)  # outermost: preflight is answered before any auth
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            settings = Settings()
            logs.configure(settings.log_level, settings.log_json, settings.log_library_debug)
            _app = create_app(settings)
        return _app
    raise AttributeError(name)
