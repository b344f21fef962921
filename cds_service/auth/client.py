"""The authenticated caller, and the interface every authenticator offers the routers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Client:
    iss: str
    tenant: str | None = None
    jti: str | None = None
    fhir_servers: tuple[str, ...] = ()
    """fhirServer base URLs this client may send us to (with its access token)."""
    any_fhir_server: bool = False
    """Development only: authentication is off, so no allowlist can be applied."""

    def may_query(self, fhir_server: str) -> bool:
        return self.any_fhir_server or fhir_server.rstrip("/") in self.fhir_servers


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None, audiences: Sequence[str]) -> Client:
        """The verified client, or raise ``Unauthorized``; ``audiences`` are the URLs this
        endpoint answers to, any of which the token's ``aud`` may name."""


class DevelopmentNoAuth:
    """Authentication off: allowed only with CDS_ENVIRONMENT=development (checked at start-up)."""

    async def authenticate(self, authorization: str | None, audiences: Sequence[str]) -> Client:
        return Client(iss="unauthenticated (development)", any_fhir_server=True)
