"""CORS for browser-based CDS Clients such as the CDS Hooks sandbox (CDS Hooks 2.0 §Cross-Origin
Resource Sharing: "CDS Services and browser-based CDS Clients will require CORS support").

Browsers send the preflight ``OPTIONS`` without the ``Authorization`` header, so Starlette's
middleware answers it before any route (and its JWT check) runs. Only listed origins; no
credentials (clients send the JWT as an explicit header, not a cookie), so ``*`` never combines
with credentials, and ``*`` itself is refused outside development.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from cds_service.config import Settings
from cds_service.errors import ConfigurationError

ALLOW_METHODS = ["GET", "POST", "OPTIONS"]
ALLOW_HEADERS = ["Authorization", "Content-Type", "Accept"]


def allowed_origins(settings: Settings) -> list[str]:
    """``CDS_CORS_ORIGINS`` checked and normalised (``scheme://host[:port]``, as browsers send
    ``Origin``); a ``ConfigurationError`` lists every bad entry."""
    origins: list[str] = []
    problems: list[str] = []
    for i, origin in enumerate(settings.cors_origins):
        where = f"CDS_CORS_ORIGINS[{i}]"
        if origin == "*":
            if settings.is_development:
                origins.append("*")
            else:
                problems.append(f"{where}: '*' (any web page may call us) is refused outside "
                                "development; list the EHR origins, e.g. "
                                "https://sandbox.cds-hooks.org")
            continue
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc \
                or parts.path not in ("", "/") or parts.query or parts.fragment:
            problems.append(f"{where}: {origin!r} is not an origin (scheme://host[:port])")
        elif parts.scheme != "https" and not settings.is_development:
            problems.append(f"{where}: {origin!r} must be https outside development")
        else:
            origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    if problems:
        raise ConfigurationError("CDS_CORS_ORIGINS", problems)
    return origins


def install(app: FastAPI, settings: Settings) -> None:
    origins = allowed_origins(settings)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=ALLOW_METHODS,
                           allow_headers=ALLOW_HEADERS, allow_credentials=False, max_age=600)
