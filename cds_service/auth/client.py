"""The authenticated caller, and the interface every authenticator offers the routers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(eq=False)
class PendingJti:
    """A verified token's jti whose replay check is left to the call (``Runtime.claim``)."""

    iss: str
    jti: str
    expires_at: int
    """Epoch second until which the claim is kept."""
    claimed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Concurrent queries of one call claim once."""


@dataclass(frozen=True)
class Client:
    iss: str
    tenant: str | None = None
    jti: str | None = None
    fhir_servers: tuple[str, ...] = ()
    """fhirServer base URLs this client may send us to (with its access token)."""
    crd_version: str | None = None
    """The Da Vinci CRD version its trust-file entry names, for calls that name none."""
    any_fhir_server: bool = False
    """Development only: authentication is off, so no allowlist can be applied."""
    pending: PendingJti | None = field(default=None, compare=False)
    """Set when the caller asked ``authenticate(claim=False)``: the jti still has to be claimed
    before anything is answered or fetched for the call."""

    def may_query(self, fhir_server: str) -> bool:
        return self.any_fhir_server or fhir_server.rstrip("/") in self.fhir_servers


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None, audiences: Sequence[str], *,
                           claim: bool = True) -> Client:
        """The verified client, or raise ``Unauthorized``; ``audiences`` are the URLs this
        endpoint answers to, any of which the token's ``aud`` may name. ``claim=False`` leaves
        the jti's replay check to the caller (``Client.pending``), which makes it part
        of its own write (a hook call's decision record)."""


class DevelopmentNoAuth:
    """Authentication off: allowed only with CDS_ENVIRONMENT=development (checked at start-up)."""

    async def authenticate(self, authorization: str | None, audiences: Sequence[str], *,
                           claim: bool = True) -> Client:
        return Client(iss="unauthenticated (development)", any_fhir_server=True)
