"""CORS for browser-based CDS Clients such as the CDS Hooks sandbox (CDS Hooks 2.0 §Cross-Origin
Resource Sharing: "CDS Services and browser-based CDS Clients will require CORS support").

Browsers send the preflight ``OPTIONS`` without the ``Authorization`` header, so Starlette's
middleware answers it before any route (and its JWT check) runs. Only listed origins; no
credentials (clients send the JWT as an explicit header, not a cookie), so ``*`` never combines
with credentials, and ``*`` itself is refused outside development.

A refused preflight is one log line saying what was refused and which setting governs it, so an
operator can tell ``http://localhost:3000`` from the listed ``http://127.0.0.1:3000``. The origin
is a caller's text: only its host, when it is a plain host name or address, and a digest of the
whole origin (``printf %s ORIGIN | sha256sum``) are logged, never the origin itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from cds_service.config import Settings
from cds_service.errors import ConfigurationError

log = logging.getLogger("cds_service.cors")

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
    # Also without any origin listed: every preflight is then refused, with its log line.
    app.add_middleware(LoggedCORSMiddleware, allow_origins=allowed_origins(settings),
                       allow_methods=ALLOW_METHODS, allow_headers=ALLOW_HEADERS,
                       allow_credentials=False, max_age=600)


#: What a refused preflight asked for that we do not grant, and what governs it.
_REFUSED = {
    "origin": "origin not in CDS_CORS_ORIGINS",
    "method": f"method other than {', '.join(ALLOW_METHODS)}",
    "headers": f"request headers other than {', '.join(ALLOW_HEADERS)}",
    "private-network": "private network access (never granted)",
}
_HOST = re.compile(r"[a-z0-9.-]{1,253}|[0-9a-f:.]{2,45}")


class LoggedCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            # Starlette's answer: "Disallowed CORS origin, method" (its own fixed words).
            failures = bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", ")
            origin = request_headers.get("origin", "")
            log.warning("CORS preflight refused: %s",
                        "; ".join(_REFUSED.get(f, "other") for f in failures),
                        extra={"origin_host": origin_host(origin),
                               "origin_sha256": hashlib.sha256(
                                   origin.encode("utf-8", "surrogatepass")).hexdigest()})
        return response


def origin_host(origin: str) -> str | None:
    """The host of an ``Origin`` header when it is a plain name or address, else None."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""  # lower case, without brackets or user:password@
    except ValueError:  # an unclosed [IPv6 literal
        return None
    return host if parts.scheme in ("http", "https") and _HOST.fullmatch(host) else None
