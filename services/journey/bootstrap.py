"""Wires the journey service: its subgraph, its consumer, its scheduler, its health.

The one place that builds the journey's adapters (``MongoJourneyStore`` and the
state, identity, catalog and analytics stores) and hands them to the API, the
consumer and the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from services.journey import worker
from services.journey.adapters.mongo import INDEXES, MongoJourneyStore
from services.journey.adapters.mongo_analytics import MongoAnalyticsStore
from services.journey.adapters.mongo_catalog import MongoCatalogStore
from services.journey.adapters.mongo_identity import MongoIdentityStore
from services.journey.adapters.mongo_segments import MongoSegmentStore
from services.journey.adapters.mongo_state import MongoStateStore
from services.journey.api.graph import JourneyContext, schema
from services.journey.handlers import JourneyPorts
from shared.auth import Principal
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.pii_audit import MongoPiiAudit, request_id_of
from shared.runtime import ServiceClients, ServiceWiring, service_clients
from shared.settings import Settings

SERVICE = "journey"


def journey_ports(database: AsyncDatabase[Document], publisher: Publisher) -> JourneyPorts:
    """The journey handlers' ports on the service's database and the bus."""
    return JourneyPorts(
        touchpoints=MongoJourneyStore(database),
        state=MongoStateStore(database),
        identity=MongoIdentityStore(database),
        catalog=MongoCatalogStore(database),
        segments=MongoSegmentStore(database),
        publisher=publisher,
    )


async def _context(request: Request, principal: Principal) -> JourneyContext:
    return JourneyContext(
        principal=principal,
        store=request.state.store,
        catalog=request.state.catalog,
        analytics=request.state.analytics,
        segments=request.state.segments,
        audit=request.state.audit,
        request_id=request_id_of(request.headers),
    )


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> Sequence[ConsumerSpec]:
    return [worker.events_consumer(journey_ports(database, publisher))]


def _state(clients: ServiceClients, _: object) -> Mapping[str, Any]:
    return {
        "store": MongoJourneyStore(clients.database),
        "catalog": MongoCatalogStore(clients.database),
        "analytics": MongoAnalyticsStore(clients.database),
        "segments": MongoSegmentStore(clients.database),
        "audit": MongoPiiAudit(clients.database),
    }


WIRING = ServiceWiring(
    service=SERVICE,
    schema=schema,
    context=_context,
    indexes=INDEXES,
    state=_state,
    consumers=consumers,
    port_of=lambda settings: settings.journey_port,
)


async def run_scheduler(settings: Settings, clients: ServiceClients, stop: asyncio.Event) -> None:
    """The inactivity and deadline scheduler on open clients, until ``stop``."""
    await worker.run_scheduler(
        journey_ports(clients.database, clients.bus),
        stop,
        interval_seconds=settings.journey_scheduler_interval_seconds,
        lease_seconds=settings.journey_scheduler_lease_seconds,
        batch=settings.journey_scheduler_batch,
        stage_times_seconds=settings.journey_stage_times_refresh_seconds,
    )


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The journey subgraph at ``/graphql``; clients open in the lifespan. With the worker,
    the consumer and the scheduler run in this process too (what ``threadline up`` does)."""
    app = WIRING.app(settings, with_worker=with_worker)
    if not with_worker:
        return app
    serving = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[Any]:
        async with serving(application) as state:
            assert state is not None  # the runtime's lifespan always yields its state
            stop = asyncio.Event()
            task = asyncio.create_task(run_scheduler(settings, state["clients"], stop))
            try:
                yield state
            finally:
                stop.set()
                await task

    app.router.lifespan_context = lifespan
    return app


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``journey.events`` consumer with health on ``journey_port + 100``, and the
    scheduler beside it (on clients of its own)."""

    async def scheduler() -> None:
        async with service_clients(settings, SERVICE, indexes=()) as clients:
            await run_scheduler(settings, clients, stop)

    async with asyncio.TaskGroup() as group:
        group.create_task(WIRING.run_worker(settings, stop))
        group.create_task(scheduler())
