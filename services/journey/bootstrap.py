"""Wires the journey service: its subgraph, its consumer, its health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from services.journey import worker
from services.journey.adapters.mongo_store import INDEXES, MongoJourneyStore
from services.journey.api.graph import JourneyContext, schema
from shared.auth import Principal
from shared.health import Probe, health_routes
from shared.runtime import run_worker_process, service_clients
from shared.settings import Settings
from shared.subgraph import AuthenticatedGraphQL, token_verifier

SERVICE = "journey"


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The journey subgraph at ``/graphql``; clients open in the lifespan."""
    verifier = token_verifier(
        settings.jwt_secret, settings.jwks_url, settings.jwt_issuer, settings.jwt_audience
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with service_clients(
            settings, SERVICE, indexes=INDEXES, consumers=worker.consumers if with_worker else None
        ) as clients:
            yield {"clients": clients, "store": MongoJourneyStore(clients.database)}

    async def context(request: Request, principal: Principal) -> JourneyContext:
        return JourneyContext(principal=principal, store=request.state.store)

    def probes(request: Request) -> Mapping[str, Probe]:
        return dict(request.state.clients.probes())

    graphql = AuthenticatedGraphQL(schema, verifier=verifier, context=context)
    return Starlette(routes=[Route("/graphql", graphql), *health_routes(probes)], lifespan=lifespan)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``journey.events`` consumer with health on ``journey_port + 100``."""
    await run_worker_process(
        settings,
        stop,
        service=SERVICE,
        health_port=settings.journey_port + 100,
        indexes=INDEXES,
        consumers=worker.consumers,
    )
