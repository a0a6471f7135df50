"""Wires the scoring service: its subgraph, its consumer, its health."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request

from services.scoring import worker
from services.scoring.adapters.mongo import INDEXES, MongoMetricsStore
from services.scoring.api.graph import ScoringContext, schema
from shared.auth import Principal
from shared.runtime import run_worker_process, service_app
from shared.settings import Settings

SERVICE = "scoring"


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The scoring subgraph at ``/graphql``; clients open in the lifespan."""

    async def context(request: Request, principal: Principal) -> ScoringContext:
        return ScoringContext(principal=principal, store=request.state.store)

    return service_app(
        settings,
        SERVICE,
        schema=schema,
        context=context,
        indexes=INDEXES,
        state=lambda clients, _: {"store": MongoMetricsStore(clients.database)},
        consumers=worker.consumers if with_worker else None,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``scoring.events`` consumer with health on ``scoring_port + 100``."""
    await run_worker_process(
        settings,
        stop,
        service=SERVICE,
        health_port=settings.scoring_port + 100,
        indexes=INDEXES,
        consumers=worker.consumers,
    )
