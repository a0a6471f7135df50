"""The gateway's Starlette application: ``/graphql`` (HTTP, SSE, WebSocket), health and metrics."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from gateway.engine import Engine
from gateway.http.graphiql import graphiql_page
from gateway.http.graphql_http import GraphQLHttp
from gateway.http.pipeline import EngineHolder, Pipeline
from gateway.http.websocket import websocket_endpoint
from gateway.reload import SupergraphReloader
from gateway.security import SecurityError
from gateway.settings import GatewaySettings
from gateway.telemetry import EngineStatsCollector, GatewayMetrics, MetricsAware
from shared.auth import ADMIN, TokenVerifier
from shared.errors import ConfigurationError

EngineFactory = Callable[[], Engine | Awaitable[Engine]]
"""Builds the engine when the app starts (e.g. loads and composes the supergraph)."""

Readiness = Callable[[], Awaitable[bool]]
"""Tells whether the engine can serve (e.g. its subgraphs answer)."""

_CORS_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "traceparent",
    "tracestate",
    "apollographql-client-name",
    "apollographql-client-version",
]


def create_app(
    engine: Engine | EngineFactory,
    settings: GatewaySettings,
    *,
    readiness: Readiness | None = None,
    registry: CollectorRegistry | None = None,
    http_client: httpx.AsyncClient | None = None,
    reloader: SupergraphReloader | None = None,
) -> Starlette:
    """The gateway app around ``engine`` (or the factory that builds it at startup).

    ``readiness`` backs ``/readyz``; without it an engine's own ``async ready() -> bool``
    is asked if it has one, else the gateway is ready once the engine exists. An
    engine with ``bind_metrics(EngineMetrics)`` gets the per-subgraph and plan-cache
    metrics to report into. ``http_client`` is used to fetch the JWKS.

    With a ``reloader`` (whose ``load_initial`` is usually ``engine``), the app swaps
    engines on refresh and serves ``POST /admin/reload`` and ``GET /admin/supergraph``
    to tokens with the ``admin`` scope; ``/readyz`` names the supergraph's sha256.
    """
    verifier = token_verifier(settings, http_client)
    if settings.auth_required and verifier is None:
        raise ConfigurationError(
            "the gateway requires bearer tokens but has no key to verify them: set "
            "THREADLINE_JWT_SECRET (HS256) or THREADLINE_JWKS_URL (RS256/ES256), or allow "
            "anonymous requests with THREADLINE_GATEWAY_AUTH_REQUIRED=false"
        )
    metrics = GatewayMetrics(registry)
    # A class is a factory even though it has ``prepare``; an engine instance is not called.
    is_engine = hasattr(engine, "prepare") and not isinstance(engine, type)
    holder = EngineHolder(engine if is_engine else None)  # type: ignore[arg-type]
    if holder.current is not None:
        _bind(holder.current, metrics)
    metrics.registry.register(EngineStatsCollector(lambda: holder.current))
    if reloader is not None:
        reloader.bind(holder, metrics.registry, lambda built: _bind(built, metrics))
    pipeline = Pipeline(holder, settings, verifier, metrics)
    page = graphiql_page(settings.path) if settings.graphiql_enabled else None
    graphql = GraphQLHttp(pipeline, page)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if holder.current is None:
            built: Any = engine()  # type: ignore[operator]
            if inspect.isawaitable(built):
                built = await built
            _bind(built, metrics)
            holder.current = built
        if reloader is not None:
            await reloader.start()
        try:
            yield
        finally:
            if reloader is not None:
                await reloader.aclose()
            closer = getattr(holder.current, "aclose", None)
            if closer is not None and not is_engine:
                await closer()
            if verifier is not None:
                await verifier.aclose()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        check = "ok"
        current = holder.current
        if current is None:
            check = "no engine yet: the supergraph is still loading"
        else:
            probe = readiness or getattr(current, "ready", None)
            if probe is not None:
                try:
                    if not await probe():
                        check = "the engine reports it is not ready"
                except Exception as exc:
                    check = f"unavailable: {type(exc).__name__}: {exc}"[:300]
        ready = check == "ok"
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "checks": {"engine": check},
        }
        if reloader is not None and reloader.current is not None:
            body["supergraph"] = reloader.current.supergraph.describe()
        return JSONResponse(body, status_code=200 if ready else 503)

    async def admin_refusal(request: Request) -> Response | None:
        # Same verification (and rate limit on bad tokens) as GraphQL requests.
        client = request.client
        try:
            caller = await pipeline.admit(
                request.headers.get("authorization"),
                client.host if client else None,
                request.headers.get("x-forwarded-for"),
            )
        except SecurityError as exc:
            return JSONResponse({"errors": [exc.graphql_error()]}, status_code=exc.status)
        if caller.principal is None:
            message = "admin endpoints need 'Authorization: Bearer <JWT>' with scope 'admin'"
            return JSONResponse({"errors": [{"message": message}]}, status_code=401)
        if not caller.principal.has(ADMIN):
            message = (
                "this token lacks the 'admin' scope the admin endpoints require; ask for a "
                "token that grants it (e.g. `threadline token --scope admin`)"
            )
            return JSONResponse({"errors": [{"message": message}]}, status_code=403)
        return None

    async def admin_reload(request: Request) -> Response:
        assert reloader is not None
        refusal = await admin_refusal(request)
        if refusal is not None:
            return refusal
        outcome = await reloader.reload("admin")
        status = 502 if outcome.outcome == "failed" else 200
        return JSONResponse(outcome.describe(), status_code=status)

    async def admin_supergraph(request: Request) -> Response:
        assert reloader is not None
        refusal = await admin_refusal(request)
        return refusal or JSONResponse(reloader.status())

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    middleware = []
    if settings.cors_origins:
        wildcard = "*" in settings.cors_origins
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=["*"] if wildcard else list(settings.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=_CORS_HEADERS,
                allow_credentials=not wildcard,
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Route(settings.path, graphql.__call__, methods=["GET", "POST"]),
            WebSocketRoute(settings.path, websocket_endpoint),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    if reloader is not None:
        app.router.routes += [
            Route("/admin/reload", admin_reload, methods=["POST"]),
            Route("/admin/supergraph", admin_supergraph, methods=["GET"]),
        ]
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    app.state.engine_holder = holder
    return app


def token_verifier(
    settings: GatewaySettings, http_client: httpx.AsyncClient | None = None
) -> TokenVerifier | None:
    """The gateway's verifier: ``shared.auth``'s, with its verified-token cache on.

    None when neither a secret nor a JWKS URL is configured.
    """
    if not settings.jwt_secret and not settings.jwks_url:
        return None
    return TokenVerifier(
        secret=settings.jwt_secret,
        jwks_url=settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
        cache_size=settings.jwt_cache_size,
        http=http_client,
        jwks_max_age=settings.jwks_cache_seconds,
        jwks_min_refetch_seconds=settings.jwks_min_refetch_seconds,
    )


def _bind(engine: Engine, metrics: GatewayMetrics) -> None:
    if isinstance(engine, MetricsAware):
        engine.bind_metrics(metrics.engine)
