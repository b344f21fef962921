"""Settings: the one place that reads the environment (prefix ``CDS_``).

Every setting is documented in README.md ("Settings"); keep the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore", frozen=True)

    environment: Environment = Environment.PRODUCTION
    public_base_url: str = "http://localhost:8080"
    """Externally visible base URL: JWT ``aud`` checks and absolute links are built from it."""

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

    # Outbound FHIR queries (CDS Hooks 2.0 §FHIR Resource Access)
    fhir_timeout_seconds: float = Field(default=2.0, gt=0)
    fhir_max_fetches: int = Field(default=10, ge=0)
    fhir_max_pages: int = Field(default=5, ge=1)

    # Records
    database_url: str = "sqlite:///var/cds-service.db"
    record_decisions: bool = True
    retention_days: int = Field(default=2555, gt=0)

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    def service_url(self, path: str) -> str:
        """Absolute URL of one of our endpoints, as the caller sees it."""
        return f"{self.public_base_url}/{path.lstrip('/')}"
