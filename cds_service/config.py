"""Settings: the one place that reads the environment (prefix ``CDS_``).

Every setting is documented in README.md ("Settings"); keep the two in step. A bad value is a
``ConfigurationError`` naming the variable, what is wrong and the accepted form (``cds-service``
prints it and exits 2); the accepted form is derived from each field's type and bounds, so a new
setting needs no message of its own unless a validator checks more than its type.
"""

from __future__ import annotations

import json
import re
from enum import Enum, StrEnum
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import urlsplit

import annotated_types
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from cds_service.errors import ConfigurationError


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class Settings(BaseSettings):
    # enable_decoding=False: list settings are parsed by _decode (comma-separated or JSON), not
    # by pydantic-settings, whose JSON-only decoding fails with a traceback naming no variable.
    # allow_inf_nan=False: "inf" would switch a timeout off (a slow-header attack never ends).
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore", frozen=True,
                                      enable_decoding=False, allow_inf_nan=False)

    environment: Environment = Environment.PRODUCTION
    public_base_url: str = "http://localhost:8080"
    """Externally visible base URL: JWT ``aud`` checks and absolute links are built from it."""

    # TLS (CDS Hooks 2.0 §Security and Safety: "All data exchanged ... MUST be transmitted over
    # channels secured using the Hypertext Transfer Protocol (HTTP) over Transport Layer Security")
    tls_cert_file: Path | None = None
    """PEM certificate chain: with ``tls_key_file``, ``serve`` speaks HTTPS (TLS 1.2 or later)."""
    tls_key_file: Path | None = None
    behind_tls_proxy: bool = False
    """A TLS-terminating proxy (an Ingress, a load balancer) is in front: plain HTTP may listen
    on a non-loopback address outside development."""

    policy_dir: Path | None = None
    """Extra policy files; a file whose policy id matches a bundled one replaces it."""
    payer_file: Path | None = None
    """Payer identity and line-of-business mapping; the bundled file is used when unset."""

    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_json_depth: int = Field(default=64, gt=0)
    max_contained_resources: int = Field(default=1000, ge=0)
    """Contained resources in one hook request, all resources together (400 beyond)."""
    max_references: int = Field(default=10_000, ge=0)
    """``reference`` elements in one hook request (400 beyond)."""

    # HTTP limits, per worker process (README "HTTP limits"; cds_service/server/)
    http_max_header_bytes: int = Field(default=16_384, ge=1024)
    """Request line and headers together (431 beyond)."""
    http_max_headers: int = Field(default=100, ge=10)
    """Header fields in one request (431 beyond)."""
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    """From a request's first byte until its headers are complete (408 and closed beyond)."""
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    """From the end of the headers until the whole body is received (408 and closed beyond)."""
    http_idle_timeout_seconds: int = Field(default=15, gt=0)
    """A connection that carries no request for this long is closed (keep-alive idle)."""
    http_max_connections: int = Field(default=512, gt=0)
    """Open connections per worker; one more closes the longest idle one, else gets 503."""
    http_max_requests: int = Field(default=32, gt=0)
    """Requests in progress per worker; one more is answered 503 at once, never queued."""

    # Trust (CDS Hooks 2.0 §Trusting CDS Clients)
    auth_enabled: bool = True
    trusted_clients: Path | None = None
    trust_sandbox: bool = False
    discovery_public: bool = False
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwt_max_lifetime_seconds: int = Field(default=3600, gt=0)
    jwks_cache_seconds: int = Field(default=300, gt=0)
    jwks_refresh_cooldown_seconds: int = Field(default=30, ge=0)
    cors_origins: list[str] = []
    operator_token_sha256: list[str] = []
    """SHA-256 (hex) of each bearer token the payer's operators use for /records/stats."""

    # Outbound FHIR queries (CDS Hooks 2.0 §FHIR Resource Access)
    fhir_timeout_seconds: float = Field(default=2.0, gt=0)
    fhir_max_fetches: int = Field(default=10, ge=0)
    fhir_max_pages: int = Field(default=5, ge=1)

    # Records
    database_url: str = "sqlite:///var/cds-service.db"
    record_decisions: bool = True
    retention_days: int = Field(default=2555, gt=0, le=36500)
    # Bounds on the records database, so an outage answers 503 quickly instead of hanging calls
    # (README "Operations"): opening a connection or waiting for one from the pool; one
    # statement on the server (PostgreSQL statement_timeout, SQLite's busy wait); how long a call
    # waits for its write (jti claim, decision record, feedback) to commit; how long /readyz
    # waits for its heartbeat write.
    database_connect_timeout_seconds: int = Field(default=5, ge=2)
    database_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    database_commit_timeout_seconds: float = Field(default=5.0, gt=0)
    readiness_timeout_seconds: float = Field(default=1.0, gt=0)

    log_level: str = "INFO"
    log_json: bool = True

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise settings_error(exc) from None
        except SettingsError as exc:  # a source failed before validation
            raise ConfigurationError("settings", [str(exc)]) from None

    @field_validator("*", mode="before")
    @classmethod
    def _decode(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name] if info.field_name else None
        if not isinstance(value, str) or field is None or not _is_list(field):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(f"{_LIST_FORM}; this starts with '[' but is not JSON") from None
        return [item.strip() for item in text.split(",") if item.strip()]

    @field_validator("operator_token_sha256")
    @classmethod
    def _sha256_hex(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
                raise ValueError("each entry must be a SHA-256 digest: 64 hexadecimal digits")
        return values

    @field_validator("public_base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        try:
            parts.port  # noqa: B018 (raises for a port that is not a number from 0 to 65535)
        except ValueError:
            raise ValueError("has an invalid port; expected e.g. https://cds.example.org:8443") \
                from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an absolute URL; expected the http(s) URL EHRs use to reach "
                             "us, e.g. https://cds.example.org or https://example.org/cds")
        if parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
            raise ValueError("has a query or fragment; expected a base URL without ? or #, "
                             "e.g. https://cds.example.org")
        if parts.username is not None or parts.password is not None:
            raise ValueError("carries credentials; expected a base URL without user:password@")
        return value.strip().rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"not a log level; expected one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @field_validator("policy_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError("no such directory; expected a directory of policy YAML files")
        return value

    @field_validator("payer_file", "trusted_clients", "tls_cert_file", "tls_key_file")
    @classmethod
    def _existing_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("cannot read: no such file; expected the path of "
                             f"{_FILE_KINDS[info.field_name or '']}")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("CDS_TLS_CERT_FILE and CDS_TLS_KEY_FILE go together: set both "
                             "(HTTPS) or neither (plain HTTP)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    def service_url(self, path: str) -> str:
        """Absolute URL of one of our endpoints, as the caller sees it."""
        return f"{self.public_base_url}/{path.lstrip('/')}"


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # the logging module's names
_LIST_FORM = 'expected a comma-separated list (a,b) or a JSON list (["a", "b"])'
_FILE_KINDS = {
    "payer_file": "a payer YAML file",
    "trusted_clients": "a JSON or YAML trust file",
    "tls_cert_file": "a PEM certificate (chain) file",
    "tls_key_file": "a PEM private key file",
}
#: Settings whose value is never repeated in a message (it may hold a password).
_SECRET = frozenset({"database_url"})


def settings_error(error: ValidationError) -> ConfigurationError:
    """One line per bad setting: the variable, its value (unless secret), the problem and the
    accepted form."""
    names: list[str] = []
    problems: list[str] = []
    for err in error.errors():
        field_name = str(err["loc"][0]) if err["loc"] else ""
        # A check across settings (loc ``()``) names its variables in its message.
        for variable in [f"CDS_{field_name.upper()}"] if field_name else \
                re.findall(r"CDS_[A-Z_]+", err["msg"]) or ["settings"]:
            if variable not in names:
                names.append(variable)
        field = Settings.model_fields.get(field_name)
        if err["type"] == "value_error":
            # Our validators' messages say what is wrong and what is accepted.
            problem = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        else:
            problem = err["msg"][0].lower() + err["msg"][1:]
            if field is not None:
                problem += f"; expected {_accepted_form(field)}"
        shown = "" if field_name in _SECRET or not field_name else \
            f"{_show(err['input'])}: "
        problems.append(f"CDS_{field_name.upper()}={shown}{problem}" if field_name else problem)
    if len(names) == 1:
        prefix = f"{names[0]}="
        problems = [p.removeprefix(prefix) for p in problems]
    return ConfigurationError(", ".join(names), problems)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_list(field: FieldInfo) -> bool:
    return get_origin(_base_type(field.annotation)) in (list, set, tuple, frozenset)


def _base_type(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _accepted_form(field: FieldInfo) -> str:
    kind = _base_type(field.annotation)
    if kind is bool:
        return "true or false"
    if isinstance(kind, type) and issubclass(kind, Enum):
        return "one of " + ", ".join(str(m.value) for m in kind)
    if _is_list(field):
        return _LIST_FORM.removeprefix("expected ")
    if kind is Path:
        return "a path"
    if kind in (int, float):
        form = "a whole number" if kind is int else "a number"
        bounds = []
        for rule in field.metadata:
            if isinstance(rule, annotated_types.Gt):
                bounds.append(f"greater than {rule.gt}")
            elif isinstance(rule, annotated_types.Ge):
                bounds.append(f"at least {rule.ge}")
            elif isinstance(rule, annotated_types.Lt):
                bounds.append(f"less than {rule.lt}")
            elif isinstance(rule, annotated_types.Le):
                bounds.append(f"at most {rule.le}")
        return " ".join([form, " and ".join(bounds)]).strip()
    return "text"
