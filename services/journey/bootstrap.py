"""Wires the journey service: its subgraph, its consumer, its health."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request

from services.journey import worker
from services.journey.adapters.mongo import INDEXES, MongoJourneyStore
from services.journey.api.graph import JourneyContext, schema
from shared.auth import Principal
from shared.runtime import run_worker_process, service_app
from shared.settings import Settings

SERVICE = "journey"


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The journey subgraph at ``/graphql``; clients open in the lifespan."""

    async def context(request: Request, principal: Principal) -> JourneyContext:
        return JourneyContext(principal=principal, store=request.state.store)

    return service_app(
        settings,
        SERVICE,
        schema=schema,
        context=context,
        indexes=INDEXES,
        state=lambda clients, _: {"store": MongoJourneyStore(clients.database)},
        consumers=worker.consumers if with_worker else None,
    )


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
