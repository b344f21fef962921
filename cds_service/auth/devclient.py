"""A development CDS Client, so the quick start runs with authentication on.

``init`` generates an ES384 key pair once (``var/dev-client/private-key.pem``, readable by the
owner only) and writes a trust file that trusts its public key
(``var/dev-client/trusted-clients.json``, for ``CDS_TRUSTED_CLIENTS``). Running it again changes
nothing. ``DevClient.token`` signs a CDS Hooks JWT (2.0 §Trusting CDS Clients) as an EHR would.
The same helpers build the EHR side of the tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.errors import ConfigurationError

DEV_ISS = "urn:cds-service:dev-client"
DEFAULT_DIR = Path("var/dev-client")
KEY_FILE = "private-key.pem"
TRUST_FILE = "trusted-clients.json"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key(alg: str = "ES384") -> PrivateKey:
    """A fresh private key for ``alg`` (ES256/384/512, or RS*/PS* with a 3072-bit modulus)."""
    curves = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
    if alg in curves:
        return ec.generate_private_key(curves[alg])
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"no key type for {alg}")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256): a kid that names the key itself."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(key: PrivateKey, alg: str, kid: str | None = None) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with ``alg``, ``use`` and ``kid`` (default: the
    key's thumbprint)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = dict(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))
    else:
        jwk = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
    jwk.update(kid=kid or thumbprint(jwk), alg=alg, use="sig")
    return jwk


def mint_token(key: PrivateKey, *, iss: str, kid: str, audience: str | list[str],
               alg: str = "ES384", lifetime: int = 300, now: float | None = None,
               jti: str | None = None, tenant: str | None = None,
               jku: str | None = None) -> str:
    """A CDS Hooks 2.0 client JWT: header alg, kid, typ (+ jku); claims iss, aud, exp, iat, jti
    (+ tenant)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iss": iss, "aud": audience, "iat": issued,
                              "exp": issued + lifetime, "jti": jti or str(uuid.uuid4())}
    if tenant is not None:
        claims["tenant"] = tenant
    headers = {"kid": kid, "typ": "JWT"}
    if jku is not None:
        headers["jku"] = jku
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


@dataclass(frozen=True)
class DevClient:
    directory: Path
    key: PrivateKey
    jwk: dict[str, Any]

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])

    @property
    def trust_path(self) -> Path:
        return self.directory / TRUST_FILE

    def token(self, audience: str | list[str], lifetime: int = 300) -> str:
        return mint_token(self.key, iss=DEV_ISS, kid=self.kid, audience=audience,
                          alg=str(self.jwk["alg"]), lifetime=lifetime)


def load(directory: Path = DEFAULT_DIR) -> DevClient:
    path = directory / KEY_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigurationError(str(path), [
            "no development client here; run `cds-service dev-client init` first"]) from None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(str(path), [f"not a usable private key: {exc}"]) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
        raise ConfigurationError(str(path), ["the development client key must be EC P-384"])
    return DevClient(directory, key, public_jwk(key, "ES384"))


def init(directory: Path = DEFAULT_DIR, fhir_servers: Sequence[str] | None = None,
         ) -> tuple[DevClient, list[str]]:
    """Create what is missing; returns the client and one line per file written. With
    ``fhir_servers`` None the trust entry keeps the servers it lists."""
    directory.mkdir(parents=True, exist_ok=True)
    changes: list[str] = []
    key_path = directory / KEY_FILE
    if not key_path.exists():
        key = generate_key("ES384")
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        changes.append(f"wrote {key_path} (private key; keep it out of version control)")
    client = load(directory)

    trust_path = client.trust_path
    document = _read_json(trust_path)
    others = [c for c in document.get("clients", []) if isinstance(c, dict)
              and c.get("iss") != DEV_ISS] if isinstance(document, dict) else []
    current = next((c for c in (document or {}).get("clients", []) if isinstance(c, dict)
                    and c.get("iss") == DEV_ISS), None) if isinstance(document, dict) else None
    servers = list(fhir_servers) if fhir_servers is not None else list(
        (current or {}).get("fhir_servers", []))
    entry = {"iss": DEV_ISS, "jwks": {"keys": [client.jwk]}, "fhir_servers": servers,
             "algorithms": ["ES384"]}
    if current != entry:
        _write_atomically(trust_path, {"clients": [*others, entry]})
        changes.append(f"wrote {trust_path} (trusts {DEV_ISS}, kid {client.kid})")
    return client, changes


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
