"""Wires the scoring service: its subgraph, its consumer, its health.

The one place that builds the scoring service's adapters (``MongoMetricsStore``) and
hands them to the API and the consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request

from services.scoring import worker
from services.scoring.adapters.mongo import INDEXES, MongoMetricsStore
from services.scoring.api.graph import ScoringContext, schema
from shared.auth import Principal
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.runtime import ServiceWiring
from shared.settings import Settings

SERVICE = "scoring"


async def _context(request: Request, principal: Principal) -> ScoringContext:
    return ScoringContext(principal=principal, store=request.state.store)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> Sequence[ConsumerSpec]:
    del publisher  # scoring publishes nothing yet (score.changed comes later)
    return [worker.events_consumer(MongoMetricsStore(database))]


WIRING = ServiceWiring(
    service=SERVICE,
    schema=schema,
    context=_context,
    indexes=INDEXES,
    state=lambda clients, _: {"store": MongoMetricsStore(clients.database)},
    consumers=consumers,
    port_of=lambda settings: settings.scoring_port,
)


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The scoring subgraph at ``/graphql``; clients open in the lifespan."""
    return WIRING.app(settings, with_worker=with_worker)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``scoring.events`` consumer with health on ``scoring_port + 100``."""
    await WIRING.run_worker(settings, stop)
