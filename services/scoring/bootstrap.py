"""Wires the scoring service: its subgraph, its consumer, its schedule, its health.

The one place that builds the scoring service's adapters (``MongoMetricsStore``,
``MongoKpiStore``, ``MongoModelStore``, ``MongoRescoringStore``) and its
configuration, and hands them to the API, the consumer and the scheduled tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from services.scoring import worker
from services.scoring.adapters import kpi_store, models, rescoring
from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.models import MongoModelStore
from services.scoring.adapters.mongo import INDEXES as METRICS_INDEXES
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.adapters.rescoring import MongoRescoringStore
from services.scoring.api.graph import ScoringContext, schema
from services.scoring.config import ScoringConfig, scoring_config
from services.scoring.handlers.rescoring import Rescoring
from services.scoring.schedule import run_schedule
from shared.auth import Principal, TokenVerifier
from shared.bus.ports import ConsumerSpec, Publisher
from shared.bus.rabbitmq import Bus
from shared.mongo import AsyncDatabase, Document
from shared.pii_audit import MongoPiiAudit, request_id_of
from shared.runtime import ServiceClients, ServiceWiring, mongo_client
from shared.settings import Settings

SERVICE = "scoring"
INDEXES = (*METRICS_INDEXES, *kpi_store.INDEXES, *models.INDEXES, *rescoring.INDEXES)


async def _context(request: Request, principal: Principal) -> ScoringContext:
    state = request.state
    return ScoringContext(
        principal=principal,
        store=state.store,
        kpis=state.kpis,
        models=state.models,
        config=state.config,
        audit=state.audit,
        request_id=request_id_of(request.headers),
    )


def _wiring(config: ScoringConfig) -> ServiceWiring:
    def consumers(
        database: AsyncDatabase[Document], publisher: Publisher
    ) -> Sequence[ConsumerSpec]:
        ports = worker.ScoringPorts(
            metrics=MongoMetricsStore(database),
            kpis=MongoKpiStore(database),
            models=MongoModelStore(database),
            publisher=publisher,
            config=config,
        )
        return [worker.events_consumer(ports)]

    def state(clients: ServiceClients, _: TokenVerifier | None) -> Mapping[str, Any]:
        return {
            "store": MongoMetricsStore(clients.database),
            "kpis": MongoKpiStore(clients.database),
            "models": MongoModelStore(clients.database),
            "audit": MongoPiiAudit(clients.database),
            "config": config,
        }

    return ServiceWiring(
        service=SERVICE,
        schema=schema,
        context=_context,
        indexes=INDEXES,
        state=state,
        consumers=consumers,
        port_of=lambda settings: settings.scoring_port,
    )


WIRING = _wiring(ScoringConfig())
"""The wiring with default scoring settings (tests compose its schema and indexes)."""


@contextlib.asynccontextmanager
async def scheduled(settings: Settings, config: ScoringConfig) -> AsyncIterator[None]:
    """The daily snapshot, CLV refit and re-scoring (``schedule.py``) beside the consumers,
    own clients (the re-scoring pass publishes ``score.changed``)."""
    mongo = mongo_client(settings, SERVICE)
    try:
        database = mongo.database(settings.database_name(SERVICE))
        bus = await Bus.connect(settings, source=f"threadline/{SERVICE}")
        try:
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_schedule(
                    MongoKpiStore(database),
                    MongoModelStore(database),
                    config,
                    stop,
                    rescoring=Rescoring(MongoRescoringStore(database), bus),
                )
            )
            try:
                yield
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await bus.close()
    finally:
        await mongo.close()


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The scoring subgraph at ``/graphql``; clients open in the lifespan. With the worker,
    the consumers and the scheduled tasks run in the same process."""
    config = scoring_config(settings)
    app = _wiring(config).app(settings, with_worker=with_worker)
    if not with_worker:
        return app
    serve = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[Any]:
        async with serve(application) as state, scheduled(settings, config):
            yield state

    app.router.lifespan_context = lifespan
    return app


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``scoring.events`` consumer and the scheduled tasks, health on ``scoring_port + 100``."""
    config = scoring_config(settings)
    async with scheduled(settings, config):
        await _wiring(config).run_worker(settings, stop)
