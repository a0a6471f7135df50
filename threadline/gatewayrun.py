"""``threadline gateway``: serve a supergraph — a composed file, or our three subgraphs.

Without ``--supergraph`` the gateway composes at startup from the subgraphs'
``{ _service { sdl } }``. Subgraphs that are still starting are waited for (they
answer connection refused or 503 for a while after a deploy), so the gateway and
the services can be started together.

The supergraph is loaded again (file re-read, or SDLs re-fetched and re-composed)
on SIGHUP, on ``POST /admin/reload`` and, when
``THREADLINE_GATEWAY_SUPERGRAPH_POLL_SECONDS`` is above 0, on that timer.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from shared.auth import issue_token
from shared.errors import ConfigurationError
from shared.logging import setup_logging
from shared.settings import Settings
from shared.telemetry import setup_tracing, tracer
from threadline.localstate import JWT_SECRET_FILE
from threadline.suite import SERVICES, service_port

if TYPE_CHECKING:
    from gateway.reload import SubgraphsSource

COMPOSE_TIMEOUT_SECONDS = 90.0
RETRIED_CODES = frozenset({"SUBGRAPH_UNREACHABLE"})


def parse_subgraphs(entries: Sequence[str], settings: Settings) -> dict[str, str]:
    """``NAME=URL`` flags, or the three local services on their configured ports."""
    if not entries:
        return {
            name: f"http://127.0.0.1:{service_port(settings, name)}/graphql" for name in SERVICES
        }
    subgraphs: dict[str, str] = {}
    for entry in entries:
        name, sep, url = entry.partition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise ConfigurationError(
                f"--subgraph {entry!r} is not NAME=URL (e.g. profile=http://profile:4001/graphql)"
            )
        subgraphs[name.strip()] = url.strip()
    return subgraphs


def _service_headers(settings: Settings, secret: str | None) -> dict[str, str]:
    # Our subgraphs want a bearer token on every /graphql request, _service included.
    if not secret:
        return {}
    token = issue_token(
        secret, ["customers:read"], subject="threadline-gateway", issuer=settings.jwt_issuer,
        ttl_seconds=300,
    )  # fmt: skip
    return {"authorization": f"Bearer {token}"}


async def compose_local(
    subgraphs: dict[str, str],
    headers: dict[str, str],
    wait_seconds: float = COMPOSE_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Fetch every subgraph's SDL (waiting for those still starting) and compose them."""
    from gateway.reload import SubgraphsSource

    return await _load_waiting(SubgraphsSource(subgraphs, lambda: headers, transport), wait_seconds)


async def _load_waiting(source: SubgraphsSource, wait_seconds: float) -> str:
    from gateway.composition import CompositionError
    from gateway.reload import SupergraphLoadError

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await source.load()
        except SupergraphLoadError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, CompositionError) else exc
            codes = getattr(cause, "codes", [])
            retry = bool(codes) and all(code in RETRIED_CODES for code in codes)
            if not retry or time.monotonic() > deadline:
                raise ConfigurationError(f"cannot compose the supergraph: {cause}") from exc
        await asyncio.sleep(0.5)


def poll_seconds(environ: dict[str, str] | None = None) -> float:
    """``THREADLINE_GATEWAY_SUPERGRAPH_POLL_SECONDS``: 0 or unset turns polling off."""
    raw = (os.environ if environ is None else environ).get(
        "THREADLINE_GATEWAY_SUPERGRAPH_POLL_SECONDS", "0"
    )
    try:
        seconds = float(raw or "0")
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigurationError(
            f"THREADLINE_GATEWAY_SUPERGRAPH_POLL_SECONDS={raw!r} is not a number of seconds "
            "(use 0 to turn polling off)"
        )
    return seconds


def run_gateway(
    *, supergraph: Path | None, subgraphs: Sequence[str], port: int | None, host: str
) -> int:
    import uvicorn

    from gateway.engine import Engine
    from gateway.federation_engine import FederationEngine
    from gateway.http import create_app
    from gateway.reload import (
        FileSource,
        SubgraphsSource,
        SupergraphReloader,
        SupergraphSource,
    )
    from gateway.settings import GatewaySettings

    settings = Settings()
    gateway_settings = GatewaySettings()
    local_secret = _local_secret(settings)
    if not gateway_settings.jwt_secret and not gateway_settings.jwks_url and local_secret:
        gateway_settings = gateway_settings.model_copy(update={"jwt_secret": local_secret})
    setup_logging("threadline-gateway", settings.log_level)
    setup_tracing("threadline-gateway", otlp_endpoint=settings.otlp_endpoint)

    urls = parse_subgraphs(subgraphs, settings)
    sdl_text: str | None = None
    if supergraph is not None:
        try:
            sdl_text = supergraph.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read --supergraph {supergraph}: {exc}") from exc
    overrides = urls if subgraphs else {}
    secret = settings.jwt_secret or local_secret
    source: SupergraphSource = (
        FileSource(supergraph)
        if supergraph is not None
        else SubgraphsSource(urls, lambda: _service_headers(settings, secret))
    )

    def build(sdl: str) -> FederationEngine:
        return FederationEngine(sdl, overrides, tracer=tracer("threadline.gateway"))

    reloader = SupergraphReloader(source, build, poll_seconds=poll_seconds(), handle_sighup=True)

    async def engine() -> Engine:
        if sdl_text is None and isinstance(source, SubgraphsSource):
            # At startup, wait for subgraphs still starting; refreshes fail fast instead.
            return await reloader.load_initial(await _load_waiting(source, COMPOSE_TIMEOUT_SECONDS))
        return await reloader.load_initial(sdl_text)

    app = create_app(engine, gateway_settings, reloader=reloader)
    uvicorn.run(
        app,
        host=host,
        port=port or settings.gateway_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0


def _local_secret(settings: Settings) -> str | None:
    if settings.jwt_secret:
        return settings.jwt_secret
    try:
        return (settings.data_dir / JWT_SECRET_FILE).read_text().strip() or None
    except OSError:
        return None
