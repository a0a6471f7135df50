"""Typed, frozen settings read once from the environment (prefix ``THREADLINE_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a Threadline process may be configured with.

    Read at the entrypoint (``Settings()``) and passed down; nothing below the
    entrypoints reads ``os.environ``.
    """

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", frozen=True, extra="ignore")

    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    write_keys: Annotated[tuple[str, ...], NoDecode] = ()
    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str = "threadline"
    jwt_audience: str | None = None

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

    @field_validator("write_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @cached_property
    def production(self) -> bool:
        return self.environment.lower() in {"production", "prod"}

    def database_name(self, service: str) -> str:
        return f"threadline_{service}"
