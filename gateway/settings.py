"""The gateway's HTTP-layer settings, read once at the entrypoint (prefix ``THREADLINE_GATEWAY_``).

Credentials and the deployment environment are the project-wide names of
``shared.settings.Settings`` (``THREADLINE_JWT_SECRET``, ``THREADLINE_JWKS_URL``,
``THREADLINE_JWT_ISSUER``, ``THREADLINE_JWT_AUDIENCE``, ``THREADLINE_ENVIRONMENT``);
a ``THREADLINE_GATEWAY_``-prefixed variable of the same name wins over them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _global(name: str) -> AliasChoices:
    return AliasChoices(f"THREADLINE_GATEWAY_{name}", f"THREADLINE_{name}")


class GatewaySettings(BaseSettings):
    """Transport, auth and limit settings of the gateway's HTTP layer."""

    model_config = SettingsConfigDict(
        env_prefix="THREADLINE_GATEWAY_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    environment: str = Field(default="development", validation_alias=_global("ENVIRONMENT"))
    path: str = "/graphql"

    # Authentication
    jwt_secret: str | None = Field(default=None, validation_alias=_global("JWT_SECRET"))
    jwks_url: str | None = Field(default=None, validation_alias=_global("JWKS_URL"))
    jwt_issuer: str | None = Field(default="threadline", validation_alias=_global("JWT_ISSUER"))
    jwt_audience: str | None = Field(default=None, validation_alias=_global("JWT_AUDIENCE"))
    jwt_leeway_seconds: float = Field(default=30.0, ge=0)
    jwt_cache_size: int = Field(default=4096, ge=0)
    """Verified tokens remembered until they expire, so a repeated token is checked once; 0: off."""
    auth_required: bool = True
    """Reject requests without a bearer token (401). A presented token is always verified."""
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    jwks_min_refetch_seconds: float = Field(default=10.0, ge=0)
    """At most one JWKS fetch per this interval, however many unknown ``kid``s arrive."""

    # Limits
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_depth: int = Field(default=15, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_cost: int = Field(default=10_000, ge=1)
    default_list_size: int = Field(default=10, ge=1)
    """The multiplier of a list field without a ``first``/``limit`` argument in cost estimates."""
    max_tokens: int = Field(default=10_000, ge=100)
    introspection: bool | None = None
    """None: enabled except when ``environment`` is production."""
    graphiql: bool | None = None
    """None: served except when ``environment`` is production."""

    # Automatic persisted queries
    apq_enabled: bool = True
    apq_cache_size: int = Field(default=10_000, ge=1)

    # Per-client rate limiting (token bucket); rate 0 disables it
    rate_limit_per_second: float = Field(default=100.0, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    rate_limit_clients: int = Field(default=100_000, ge=1)
    trust_forwarded_for: bool = False
    """Take the client IP from ``X-Forwarded-For`` (only behind a proxy that sets it)."""

    # CORS: exact origins, or "*"
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    # Subscriptions
    ws_connection_init_timeout_seconds: float = Field(default=5.0, gt=0)
    sse_keepalive_seconds: float = Field(default=12.0, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @property
    def production(self) -> bool:
        return self.environment.lower() in {"production", "prod"}

    @property
    def introspection_enabled(self) -> bool:
        return (not self.production) if self.introspection is None else self.introspection

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.production) if self.graphiql is None else self.graphiql
