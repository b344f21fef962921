"""Who may read the payer-wide records over HTTP (``GET /records/stats``): the payer's own
operators, with a credential of their own, never a trusted EHR's JWT.

The stats count every client's cards and feedback; an EHR is entitled to its own calls only
(CDS Hooks trust is per client). Operators present ``Authorization: Bearer <token>``, a random
secret of at least 32 characters; the settings hold only its SHA-256
(``CDS_OPERATOR_TOKEN_SHA256``), so the configuration reveals no usable credential. With none
configured nobody gets in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cds_service.errors import Unauthorized

MIN_TOKEN_CHARS = 32
MAX_TOKEN_CHARS = 512


class OperatorTokens:
    def __init__(self, sha256_hex: Sequence[str], *, open_to_all: bool = False) -> None:
        """``open_to_all``: development with authentication off (anyone may call anything)."""
        self._digests = tuple(h.lower() for h in sha256_hex)
        self._open = open_to_all

    def check(self, authorization: str | None) -> None:
        """Return if the header carries an operator token, else raise ``Unauthorized``."""
        if self._open:
            return
        if not authorization:
            raise Unauthorized("no Authorization header (operator endpoint)", "missing")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
            raise Unauthorized("not an operator token", "operator")
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        # Compare with every configured digest, so timing does not tell which one was close.
        matched = False
        for expected in self._digests:
            matched |= hmac.compare_digest(digest, expected)
        if not matched:
            raise Unauthorized("not an operator token", "operator")
