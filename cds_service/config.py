"""Settings: the one place that reads the environment (prefix ``CDS_``).

Each field's docstring is its description in the settings reference, docs/reference/settings.md
(written by ``python -m cds_service.docs_reference``; a test fails when the page and the code
differ). A bad value is a ``ConfigurationError`` naming the variable, what is wrong and the
accepted form (``cds-service`` prints it and exits 2); the accepted form is derived from each
field's type and bounds, so a new setting needs no message of its own unless a validator checks
more than its type.
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
                                      enable_decoding=False, allow_inf_nan=False,
                                      use_attribute_docstrings=True)

    environment: Environment = Environment.PRODUCTION
    """`development` relaxes safety checks: authentication may be off, plain HTTP may listen on
    any address, `*` is allowed in `CDS_CORS_ORIGINS`, `http://` FHIR servers and key sets in the
    trust file."""
    public_base_url: str = "http://localhost:8080"
    """The URL EHRs use to reach us; JWT `aud` and card links are built from it. An absolute
    `http(s)` URL, optionally with a path, without query or fragment."""

    # TLS (CDS Hooks 2.0 §Security and Safety: "All data exchanged ... MUST be transmitted over
    # channels secured using the Hypertext Transfer Protocol (HTTP) over Transport Layer Security")
    tls_cert_file: Path | None = None
    """PEM certificate (with its chain): with `CDS_TLS_KEY_FILE`, `serve` speaks HTTPS only, TLS
    1.2 or later."""
    tls_key_file: Path | None = None
    """The certificate's PEM private key (unencrypted); set both or neither."""
    behind_tls_proxy: bool = False
    """`true` declares a TLS-terminating proxy in front (an Ingress, a load balancer): plain HTTP
    may then listen on a non-loopback address in production."""

    policy_dir: Path | None = None
    """Directory of extra policy files; a file whose policy id matches a bundled one replaces
    it."""
    payer_file: Path | None = None
    """Payer identity and line-of-business mapping; unset, the bundled `payer/payer.yaml`."""

    max_body_bytes: int = Field(default=1_000_000, gt=0)
    """Larger request bodies get 413."""
    max_json_depth: int = Field(default=64, gt=0)
    """Deeper JSON gets 400."""
    max_contained_resources: int = Field(default=1000, ge=0)
    """Contained resources in one hook request, all resources together; more get 400
    `too-costly`."""
    max_references: int = Field(default=10_000, ge=0)
    """`reference` elements in one hook request; more get 400 `too-costly`."""

    # HTTP limits, per worker process (docs/operations.md "HTTP limits"; cds_service/server/)
    http_max_header_bytes: int = Field(default=16_384, ge=1024)
    """Request line and headers together, per request; more get 431."""
    http_max_headers: int = Field(default=100, ge=10)
    """Header fields per request; more get 431."""
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    """From a request's first byte until its headers are complete; later gets 408 and the
    connection is closed."""
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    """From the end of the headers until the whole body has arrived; later gets 408 and the
    connection is closed."""
    http_idle_timeout_seconds: int = Field(default=15, gt=0)
    """A connection without a request for this long (from its opening, or since its last
    answer) is closed."""
    http_max_connections: int = Field(default=512, gt=0)
    """Open connections per worker process; one more closes the longest idle one, or with none
    idle is answered 503 and closed at once."""
    http_max_requests: int = Field(default=32, gt=0)
    """Requests in progress per worker process; one more gets 503 with `Retry-After: 1` at once
    (`/healthz` exempt)."""
    tls_handshake_timeout_seconds: float = Field(default=5.0, gt=0)
    """HTTPS: from accepting a connection until its TLS handshake is complete; later, the
    connection is closed (it counts against `CDS_HTTP_MAX_CONNECTIONS` from accept)."""

    accept_any_payer: bool = False
    """Development only: take every Coverage as this payer's, whatever its payor identifier
    (the payer file's ``identifiers`` are not checked). Production answers another payer's
    member 400, as Da Vinci CRD (2.1, 2.2 hooks.md error handling) requires."""

    # Trust (CDS Hooks 2.0 §Trusting CDS Clients)
    auth_enabled: bool = True
    """`false` turns JWT checks off; refused unless `CDS_ENVIRONMENT=development`."""
    trusted_clients: Path | None = None
    """The trust file (JSON or YAML): trusted EHRs, their keys, tenants and FHIR servers."""
    trust_sandbox: bool = False
    """Also trust the public CDS Hooks sandbox (bundled public key)."""
    discovery_public: bool = False
    """`GET /cds-services` without a token."""
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew allowed on `exp` and `iat`."""
    jwt_max_lifetime_seconds: int = Field(default=3600, gt=0)
    """Longest accepted `exp - iat`."""
    jwks_cache_seconds: int = Field(default=300, gt=0)
    """How long a fetched key set (`jwks_url`) is used before it is fetched again."""
    jwks_refresh_cooldown_seconds: int = Field(default=30, ge=0)
    """Least time between fetches caused by unknown `kid`s."""
    cors_origins: list[str] = []
    """Browser origins allowed to call, comma-separated (`https://a.example,https://b.example`)
    or a JSON list (`["https://sandbox.cds-hooks.org"]`); `*` only in development."""
    operator_token_sha256: list[str] = []
    """SHA-256 digests (hex) of the bearer tokens the payer's operators use for
    `GET /records/stats`; empty: nobody."""

    # Outbound FHIR queries (CDS Hooks 2.0 §FHIR Resource Access)
    fhir_timeout_seconds: float = Field(default=2.0, gt=0)
    """Time for all EHR FHIR requests of one hook call (also the key-set fetch timeout)."""
    fhir_max_fetches: int = Field(default=10, ge=0)
    """EHR FHIR requests per hook call (pages included); `0` never queries."""
    fhir_max_pages: int = Field(default=5, ge=1)
    """Pages followed per search."""

    # Records
    database_url: str = "sqlite:///var/cds-service.db"
    """The records database: an SQLite file, relative to the working directory (its directory is
    created), or `postgresql+psycopg://user:password@host:5432/db`."""
    record_decisions: bool = True
    """Decision records, feedback storage and the shared jti store; `false` runs without a
    database (feedback and `/records/stats` answer 404, replay protection is per process)."""
    retention_days: int = Field(default=2555, gt=0, le=36500)
    """`cds-service records purge` deletes records older than this (2555: seven years)."""
    # Bounds on the records database, so an outage answers 503 quickly instead of hanging calls
    # (docs/operations.md "Database outages").
    database_connect_timeout_seconds: int = Field(default=5, ge=2)
    """Opening a PostgreSQL connection, or waiting for a free one from the pool."""
    database_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    """One statement on the database: PostgreSQL `statement_timeout` (lock waits included) and
    TCP give-up, SQLite's wait for another process's lock."""
    database_commit_timeout_seconds: float = Field(default=5.0, gt=0)
    """How long a call waits for its write (jti claim, decision record, feedback) or a stats
    read; past it the call gets 503 with `Retry-After`."""
    readiness_timeout_seconds: float = Field(default=1.0, gt=0)
    """How long `/readyz` waits for its heartbeat write before answering 503 "not ready"."""

    log_level: str = "INFO"
    """Log level of `cds-service serve`: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`."""
    log_json: bool = True
    """One JSON object per log line; `false` for plain text."""
    log_library_debug: list[str] = []
    """Library loggers (`httpcore2`, `sqlalchemy.engine`...) let below WARNING; their lines then
    carry the event only, never the values (no URLs, headers or bodies)."""

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
