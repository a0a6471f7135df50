"""Typed, frozen settings read once from the environment (prefix ``THREADLINE_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigurationError
from shared.graphql_limits import GraphQLLimits


class Settings(BaseSettings):
    """Everything a Threadline process may be configured with.

    Read at the entrypoint (``Settings()``) and passed down; nothing below the
    entrypoints reads ``os.environ``.
    """

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", frozen=True, extra="ignore")

    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    # The write concern of every MongoDB write. Consumers ack the broker once their writes
    # are acknowledged, so an acknowledged write must survive a crash of the database:
    # journaled (``j``) on a majority of the replica set (``w``). Lower them only where
    # losing acknowledged writes is acceptable (a throwaway benchmark).
    mongodb_write_concern_w: int | Literal["majority"] = "majority"
    mongodb_journal: bool = True
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    write_keys: Annotated[tuple[str, ...], NoDecode] = ()
    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str = "threadline"
    jwt_audience: str | None = None
    default_phone_region: str | None = None
    """ISO 3166 alpha-2 region (``DE``) where national phone numbers are read when an event
    names no country or locale, and in queries (``customerByIdentity``); unset: such
    numbers need their ``+country`` prefix."""
    pii_traits: Annotated[tuple[str, ...], NoDecode] = ()
    """Trait names masked as PII besides those recognised by name and shape (comma-separated)."""
    privacy_salt: str | None = None
    """The per-deployment secret keying the hashes of suppressed and erased identifiers.

    Required in production; changing it makes existing tombstones unrecognisable (the
    erased people's identifiers could then create customers again)."""
    trait_strategies: dict[str, Literal["latest", "first", "max", "min", "sum", "union"]] = Field(
        default_factory=dict
    )
    """How each named trait combines its values, as JSON (``{"visits": "sum", "tags":
    "union"}``); unnamed traits keep the latest value by event time."""

    customer_search_traits: Annotated[tuple[str, ...], NoDecode] = (
        "name",
        "firstName",
        "lastName",
        "first_name",
        "last_name",
    )
    """Traits whose prefix ``customers(search:)`` matches (comma-separated)."""

    # Segments: how often the profile worker's scheduler looks for due re-checks (windows
    # that expire) and re-evaluation jobs, how long a claim of either lasts before another
    # worker may take it over, and the customers a job evaluates per page.
    segment_scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    segment_claim_seconds: float = Field(default=60.0, gt=0)
    segment_job_page_size: int = Field(default=500, ge=1)

    # Identity resolution (services/profile/domain/resolution_rules.py)
    identity_blocked_values: Annotated[tuple[str, ...], NoDecode] = (
        "null", "undefined", "anonymous", "0", "-1", "test@example.com",
    )  # fmt: skip
    """Values that never identify anyone (comma-separated, compared case-insensitively)."""
    identity_blocked_patterns: dict[str, list[str]] = Field(default_factory=dict)
    """Per identity type, regular expressions of values that never match, as JSON:
    ``{"email": ["@example\\.(com|org)$"]}``."""
    identity_priority: Annotated[tuple[str, ...], NoDecode] = (
        "user_id", "email", "phone", "*", "anonymous_id",
    )  # fmt: skip
    """Identity types strongest first (comma-separated); ``*`` stands for external ids."""
    identity_limits: dict[str, str] = Field(
        default_factory=lambda: {"user_id": "1", "anonymous_id": "5/7d"}
    )
    """Per type, how many identifiers a customer may have, ever (``"1"``) or per window
    (``"5/7d"``; units h, d, w), as JSON."""
    identity_max_merges: int = Field(default=100, ge=1)
    identity_max_identifiers: int = Field(default=1000, ge=1)

    data_dir: Path = Path(".threadline")
    environment: str = "development"
    log_level: str = "INFO"
    service_name: str = "threadline"

    # Messaging
    exchange: str = "threadline.events"
    shards: int = Field(default=4, ge=1, le=256)
    prefetch: int = Field(default=256, ge=1)
    batch_size: int = Field(default=200, ge=1)
    batch_linger_ms: int = Field(default=20, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    retry_delay_ms: int = Field(default=1000, ge=0)

    # Limits of the collection API (Segment's own limits)
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024

    # Limits of every subgraph's /graphql, the same checks as the gateway's
    # (THREADLINE_GATEWAY_MAX_*), so a subgraph called directly is no easier to overload.
    # A backstop for direct calls, above the gateway's client-facing limits (15 deep, 30
    # aliases, 100 requests/s per client): the gateway's own subgraph operations nest
    # entities one level deeper, alias up to two fields per aliased client field, and one
    # client request fans out into several requests to one subgraph.
    graphql_max_depth: int = Field(default=20, ge=1)
    graphql_max_aliases: int = Field(default=100, ge=0)
    graphql_max_cost: int = Field(default=10_000, ge=1)
    graphql_default_list_size: int = Field(default=10, ge=1)
    graphql_max_tokens: int = Field(default=10_000, ge=100)
    graphql_introspection: bool | None = None
    """None: enabled except when ``environment`` is production."""
    graphql_rate_limit_per_second: float = Field(default=1000.0, ge=0)
    """Requests a second per token subject (token bucket); 0 turns the limit off."""
    graphql_rate_limit_burst: int = Field(default=2000, ge=1)

    # The journey worker's scheduler: how often it looks for customers whose inactivity
    # triggers or friction deadlines came due, how long a claim on one lasts, how many
    # it claims a turn.
    journey_scheduler_interval_seconds: float = Field(default=10.0, gt=0)
    journey_scheduler_lease_seconds: float = Field(default=60.0, gt=0)
    journey_scheduler_batch: int = Field(default=100, ge=1)
    # How often the scheduler recomputes the p90 of time in each journey stage (the
    # stalled-stage friction's threshold) over every customer's finished visits.
    journey_stage_times_refresh_seconds: float = Field(default=600.0, gt=0)
    # Data hygiene: the profile's scheduled reconciliation (duplicates the identity rules
    # left, missing required traits, timestamp anomalies), run once per interval across
    # all profile processes; 0 turns it off.
    hygiene_interval_seconds: float = Field(default=3600.0, ge=0)
    hygiene_required_traits: Annotated[tuple[str, ...], NoDecode] = ("email",)
    """Traits every known customer should have (comma-separated)."""
    hygiene_max_future_seconds: float = Field(default=600.0, ge=0)
    """How far after its receipt an event's time may lie before it is an anomaly."""
    hygiene_max_lag_days: float = Field(default=90.0, gt=0)
    """How far before its receipt an event's time may lie before it is an anomaly."""
    # Scoring: reporting currency and rates ("EUR=1.08,GBP=1.27": reporting units per 1 unit),
    # score.changed thresholds, the CLV refit and daily snapshot schedule (0 turns one off).
    scoring_reporting_currency: str = "USD"
    # Defaults are illustrative (late 2026) so the demo's currencies convert: set real ones.
    scoring_exchange_rates: Annotated[tuple[tuple[str, str], ...], NoDecode] = (
        ("EUR", "1.08"),
        ("GBP", "1.27"),
        ("JPY", "0.0067"),
        ("BRL", "0.18"),
        ("CAD", "0.73"),
        ("AUD", "0.66"),
    )
    scoring_churn_risk_threshold: float = Field(default=0.7, gt=0, lt=1)
    scoring_nps_detractor_threshold: int = Field(default=6, ge=0, le=10)
    scoring_clv_horizon_days: int = Field(default=365, ge=1)
    scoring_clv_refit_hours: float = Field(default=24.0, ge=0)
    scoring_snapshot_check_seconds: float = Field(default=600.0, ge=0)

    # Telemetry: OTLP/HTTP traces when an endpoint is set
    otlp_endpoint: str | None = None

    # Ports of the local deployment
    gateway_port: int = 4000
    profile_port: int = 4001
    journey_port: int = 4002
    scoring_port: int = 4003
    # Where a worker process serves /healthz, /readyz and /metrics (on its service's
    # port + 100): this machine only, unless a pod's probes need 0.0.0.0.
    worker_health_host: str = "127.0.0.1"

    @field_validator(
        "write_keys",
        "pii_traits",
        "customer_search_traits",
        "hygiene_required_traits",
        "identity_blocked_values",
        "identity_priority",
        mode="before",
    )
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("scoring_exchange_rates", mode="before")
    @classmethod
    def _split_rates(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = []
        for item in (part.strip() for part in value.split(",")):
            code, equals, rate = item.partition("=")
            if not item:
                continue
            if not equals or len(code.strip()) != 3:
                raise ValueError(
                    f"THREADLINE_SCORING_EXCHANGE_RATES entry {item!r} is not CODE=RATE; write "
                    "e.g. EUR=1.08,GBP=1.27 (reporting-currency units per 1 unit of CODE)"
                )
            pairs.append((code.strip().upper(), rate.strip()))
        return tuple(pairs)

    @field_validator("mongodb_write_concern_w")
    @classmethod
    def _acknowledged(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(
                f"THREADLINE_MONGODB_WRITE_CONCERN_W={value} would not wait for the write to "
                "be acknowledged; set it to `majority` (the default) or a member count of 1 "
                "or more"
            )
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        region = value.strip().upper()
        if not phonenumbers.country_code_for_region(region):
            raise ValueError(
                f"THREADLINE_DEFAULT_PHONE_REGION={value!r} is no region phone numbers know; "
                "use an ISO 3166 alpha-2 code such as DE, US or GB"
            )
        return region

    @cached_property
    def identifier_salt(self) -> str:
        """``privacy_salt``, or a fixed development salt outside production."""
        if self.privacy_salt:
            return self.privacy_salt
        if self.production:
            raise ConfigurationError(
                "THREADLINE_PRIVACY_SALT is not set: production needs its own secret salt for "
                "the hashes of suppressed and erased identifiers (e.g. `openssl rand -hex 32`), "
                "kept for the life of the deployment"
            )
        return "threadline-development-salt"

    @cached_property
    def production(self) -> bool:
        return self.environment.lower() in {"production", "prod"}

    @cached_property
    def graphql_limits(self) -> GraphQLLimits:
        introspection = self.graphql_introspection
        return GraphQLLimits(
            max_depth=self.graphql_max_depth,
            max_aliases=self.graphql_max_aliases,
            max_cost=self.graphql_max_cost,
            default_list_size=self.graphql_default_list_size,
            max_tokens=self.graphql_max_tokens,
            introspection_enabled=not self.production if introspection is None else introspection,
        )

    def database_name(self, service: str) -> str:
        return f"threadline_{service}"
