"""Wires the journey service: its subgraph, its consumer, its health.

The one place that builds the journey's adapters (``MongoJourneyStore``) and
hands them to the API and the consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request

from services.journey import worker
from services.journey.adapters.mongo import INDEXES, MongoJourneyStore
from services.journey.api.graph import JourneyContext, schema
from shared.auth import Principal
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.runtime import ServiceWiring
from shared.settings import Settings

SERVICE = "journey"


async def _context(request: Request, principal: Principal) -> JourneyContext:
    return JourneyContext(principal=principal, store=request.state.store)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> Sequence[ConsumerSpec]:
    del publisher  # the journey publishes nothing yet
    return [worker.events_consumer(MongoJourneyStore(database))]


WIRING = ServiceWiring(
    service=SERVICE,
    schema=schema,
    context=_context,
    indexes=INDEXES,
    state=lambda clients, _: {"store": MongoJourneyStore(clients.database)},
    consumers=consumers,
    port_of=lambda settings: settings.journey_port,
)


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The journey subgraph at ``/graphql``; clients open in the lifespan."""
    return WIRING.app(settings, with_worker=with_worker)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``journey.events`` consumer with health on ``journey_port + 100``."""
    await WIRING.run_worker(settings, stop)
