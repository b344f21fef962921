"""Settings: the one place that reads the environment (prefix ``CDS_``).

Each field's docstring is its description in the settings reference, docs/reference/settings.md
(written by ``python -m cds_service.docs_reference``; a test fails when the page and the code
differ). A bad value is a ``ConfigurationError`` naming the variable, what is wrong and the
accepted form (``cds-service`` prints it and exits 2); the accepted form is derived from each
field's type and bounds, so a new setting needs no message of its own unless a validator checks
more than its type. A ``CDS_`` variable that is not a setting is refused the same way, naming the
closest setting: a mistyped name must not leave its setting silently at the default.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from enum import Enum, StrEnum
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import urlsplit

import annotated_types
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cds_service.errors import ConfigurationError


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class HttpImplementation(StrEnum):
    """uvicorn's HTTP/1.1 implementations (cds_service/server/protocol.py)."""

    HTTPTOOLS = "httptools"
    H11 = "h11"


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
    `http(s)` URL, optionally with a path, without query or fragment; `https://` when `serve`
    speaks HTTPS or `CDS_BEHIND_TLS_PROXY=true` (an `http://` one is then refused)."""

    # TLS (CDS Hooks 2.0 §Security and Safety: "All data exchanged ... MUST be transmitted over
    # channels secured using the Hypertext Transfer Protocol (HTTP) over Transport Layer Security")
    tls_cert_file: Path | None = None
    """PEM certificate (with its chain): with `CDS_TLS_KEY_FILE`, `serve` speaks HTTPS only, TLS
    1.2 or later."""
    tls_key_file: Path | None = None
    """The certificate's PEM private key, unencrypted (`serve` never asks for a passphrase: an
    encrypted key is refused at start); set both or neither."""
    behind_tls_proxy: bool = False
    """`true` declares a TLS-terminating proxy in front (an Ingress, a load balancer): plain HTTP
    may then listen on a non-loopback address in production."""

    policy_dir: Path | None = None
    """Directory of extra policy files; a file whose policy id matches a bundled one replaces
    it. A policy whose `payer` is not the payer file's `name` is refused."""
    payer_file: Path | None = None
    """Payer identity and line-of-business mapping; unset, the bundled `payer/payer.yaml`
    (Blue Cross & Blue Shield of Rhode Island). Naming another payer, it leaves the bundled
    policies (that payer's) unused."""
    reload_on_change: bool = True
    """`true`: the policy files and the payer file are loaded again when one changes (SIGHUP
    reloads them always); `false` where the file system reports no changes (some network file
    systems)."""

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
    http_implementation: HttpImplementation = HttpImplementation.HTTPTOOLS
    """uvicorn's HTTP/1.1 parser to serve with; every HTTP limit holds on either (h11
    costs about 0.1 ms of CPU more per request)."""
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
    """SHA-256 digests of the bearer tokens the payer's operators use for
    `GET /records/stats`, each written `sha256:` and 64 hexadecimal digits
    (`printf %s "$TOKEN" | sha256sum`), never the token itself; empty: nobody."""

    # Outbound FHIR queries (CDS Hooks 2.0 §FHIR Resource Access)
    fhir_timeout_seconds: float = Field(default=2.0, gt=0)
    """Time for all EHR FHIR requests of one hook call (also the key-set fetch timeout)."""
    fhir_max_fetches: int = Field(default=10, ge=0)
    """EHR FHIR requests per hook call (pages included); `0` never queries."""
    fhir_max_pages: int = Field(default=5, ge=1)
    """Pages followed per search."""

    # Records
    database_url: str = "sqlite:///var/cds-service.db"
    """The records database: `sqlite:///<file>`, relative to the working directory (its
    directory is created; four slashes before an absolute path), or
    `postgresql+psycopg://<user>:<password>@<host>:<port>/<database>`."""
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
        unknown_variables(os.environ)
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
    def _sha256_digests(cls, values: list[str]) -> list[str]:
        """The digests, as 64 lower-case hexadecimal digits. A token and its digest must not be
        confused: an operator token may itself be 64 hexadecimal digits (``openssl rand -hex
        32``), so a bare value of that shape is refused rather than guessed at."""
        digests = []
        for i, value in enumerate(values):
            kind, colon, digest = value.strip().partition(":")
            if colon and kind.lower() == "sha256" and _SHA256_HEX.fullmatch(digest):
                digests.append(digest.lower())
                continue
            problem = ("is bare hexadecimal, which could be a token as well as a digest" if
                       _SHA256_HEX.fullmatch(value.strip()) else "is not a SHA-256 digest")
            raise ValueError(f"entry {i + 1} {problem}; expected sha256: followed by the 64 "
                             "hexadecimal digits of the token's SHA-256 "
                             '(printf %s "$TOKEN" | sha256sum), never the token itself')
        return digests

    @field_validator("database_url")
    @classmethod
    def _database_url_form(cls, value: str) -> str:
        # The value is never repeated (it may hold a password), nor SQLAlchemy's message, which
        # names neither the setting nor a form that works.
        if not value.strip():
            raise ValueError(f"is empty; expected {DATABASE_URL_FORM}")
        try:
            make_url(value.strip())
        except (ArgumentError, ValueError):
            raise ValueError(f"is not a database URL; expected {DATABASE_URL_FORM}") from None
        return value.strip()

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

    @model_validator(mode="after")
    def _base_url_scheme(self) -> Settings:
        """EHRs reach us over HTTPS when we serve it or a TLS-terminating proxy is in front; an
        http:// base URL then builds every JWT ``aud`` check and link wrong (each call 401). The
        reverse, https:// with plain HTTP, is how any proxy or tunnel in front looks: accepted."""
        if urlsplit(self.public_base_url).scheme != "http":
            return self
        how = ("CDS_TLS_CERT_FILE is set" if self.tls else
               "CDS_BEHIND_TLS_PROXY=true" if self.behind_tls_proxy else None)
        if how:
            default = "" if "public_base_url" in self.model_fields_set else ", the default,"
            raise ValueError(
                f"CDS_PUBLIC_BASE_URL={self.public_base_url!r}{default} starts with http:// but "
                f"EHRs call over HTTPS ({how}); expected the https:// URL EHRs use, e.g. "
                + self.public_base_url.replace("http://", "https://", 1))
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


DATABASE_URL_FORM = ("sqlite:///<file> (three slashes before a relative path, four before an "
                     "absolute one) or postgresql+psycopg://<user>:<password>@<host>:<port>/"
                     "<database>")
#: ``CDS_`` variables that are not settings: the test suite's own (never read by the service).
RESERVED_PREFIX = "CDS_TEST_"
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
#: The variables Kubernetes gives a pod for each Service in its namespace ("service links":
#: NAME_SERVICE_HOST, NAME_SERVICE_PORT[_PORTNAME], NAME_PORT[_80_TCP[_PROTO|_PORT|_ADDR]]).
_SERVICE_LINK = re.compile(r"CDS_([A-Z0-9_]+_)?SERVICE_(HOST|PORT(_[A-Z0-9_]+)?)"
                           r"|CDS_([A-Z0-9_]+_)?PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?"
                           r"|CDS_[A-Z0-9_]+_PORT")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # the logging module's names
_LIST_FORM = 'expected a comma-separated list (a,b) or a JSON list (["a", "b"])'
_FILE_KINDS = {
    "payer_file": "a payer YAML file",
    "trusted_clients": "a JSON or YAML trust file",
    "tls_cert_file": "a PEM certificate (chain) file",
    "tls_key_file": "a PEM private key file",
}
#: Settings whose value is never repeated in a message (a password; a token pasted by mistake).
_SECRET = frozenset({"database_url", "operator_token_sha256"})


def known_variables() -> list[str]:
    return [f"CDS_{name.upper()}" for name in Settings.model_fields]


def unknown_variables(environ: Mapping[str, str]) -> None:
    """Refuse every ``CDS_`` variable that is not a setting: a mistyped name would otherwise be
    ignored and its setting silently left at its default (``CDS_DATABSE_URL``: records on SQLite
    in the working directory). Names are matched as pydantic-settings reads them, ignoring case."""
    known = known_variables()
    unknown = sorted(name for name in environ if name.upper().startswith("CDS_")
                     and name.upper() not in known and not name.upper().startswith(RESERVED_PREFIX))
    if not unknown:
        return
    problems = []
    for name in unknown:
        if _SERVICE_LINK.fullmatch(name.upper()):
            hint = ("Kubernetes sets it for a Service whose name starts with cds: set "
                    "enableServiceLinks: false in the pod spec")
        else:
            close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see the settings reference"
        problems.append(f"{name}: not a setting; {hint} (every CDS_ variable is read as a "
                        "setting)")
    if len(problems) == 1:
        problems = [problems[0].removeprefix(f"{unknown[0]}: ")]
    raise ConfigurationError(", ".join(unknown), problems)


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
