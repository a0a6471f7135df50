"""Wires the profile service: its subgraph, the collection API, its consumer, its health.

The one place that builds the profile's adapters (``MongoProfileStore``,
``MongoQuarantine``, ``MongoHygieneStore``) and hands them to the API, the
collector and the ``profile.ingest`` consumer. ``create_app`` serves
``/graphql``, ``/v1/*`` and the health routes (with the consumer and the
hygiene schedule too when ``with_worker``); ``run_worker`` runs the consumer
and the hygiene schedule alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from services.profile import worker
from services.profile.adapters import mongo_quarantine as quarantine
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_hygiene import MongoHygieneStore
from services.profile.api.collect import collection_routes
from services.profile.api.graph import ProfileContext, schema
from services.profile.api.intake import Collector
from services.profile.domain.hygiene import HygienePolicy
from services.profile.domain.pii import PiiPolicy
from services.profile.hygiene_schedule import HygieneSchedule, run_schedule
from shared.auth import Principal, TokenVerifier, WriteKeys
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.runtime import ServiceClients, ServiceWiring, mongo_client
from shared.settings import Settings

SERVICE = "profile"
ALL_INDEXES = (*INDEXES, *quarantine.INDEXES)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> Sequence[ConsumerSpec]:
    return [worker.ingest_consumer(MongoProfileStore(database), publisher)]


def _wiring(settings: Settings) -> ServiceWiring:
    pii = PiiPolicy.of(settings.pii_traits)

    async def context(request: Request, principal: Principal) -> ProfileContext:
        return ProfileContext(
            principal=principal, store=request.state.store, pii=pii, hygiene=request.state.hygiene
        )

    def state(clients: ServiceClients, verifier: TokenVerifier | None) -> Mapping[str, Any]:
        return {
            "store": MongoProfileStore(clients.database),
            "hygiene": MongoHygieneStore(clients.database),
            "collector": Collector(
                publisher=clients.bus,
                quarantine=quarantine.MongoQuarantine(clients.database),
                write_keys=WriteKeys(settings.write_keys),
                tokens=verifier,
                max_event_bytes=settings.max_event_bytes,
                max_batch_bytes=settings.max_batch_bytes,
                parking=clients.bus,
            ),
        }

    return ServiceWiring(
        service=SERVICE,
        schema=schema,
        context=context,
        indexes=ALL_INDEXES,
        state=state,
        consumers=consumers,
        port_of=lambda settings: settings.profile_port,
        routes=collection_routes(),
        worker_indexes=INDEXES,
    )


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The profile API; clients open in the lifespan, never at import or here. With its
    worker, the process also runs the hygiene schedule."""
    app = _wiring(settings).app(settings, with_worker=with_worker)
    if with_worker:
        serving = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[Any]:
            async with serving(app) as state, hygiene_schedule(settings):
                yield state

        app.router.lifespan_context = lifespan
    return app


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``profile.ingest`` consumer with health on ``profile_port + 100``, and the
    hygiene schedule."""
    async with hygiene_schedule(settings):
        await _wiring(settings).run_worker(settings, stop)


@contextlib.asynccontextmanager
async def hygiene_schedule(settings: Settings) -> AsyncIterator[None]:
    """The data-hygiene reconciliation in the background (its own MongoDB client), unless
    ``THREADLINE_HYGIENE_INTERVAL_SECONDS`` is 0."""
    if settings.hygiene_interval_seconds <= 0:
        yield
        return
    schedule = HygieneSchedule(
        interval=timedelta(seconds=settings.hygiene_interval_seconds),
        policy=HygienePolicy(
            required_traits=settings.hygiene_required_traits,
            max_future=timedelta(seconds=settings.hygiene_max_future_seconds),
            max_lag=timedelta(days=settings.hygiene_max_lag_days),
        ),
    )
    mongo = mongo_client(settings, SERVICE)
    stop = asyncio.Event()
    store = MongoHygieneStore(mongo.database(settings.database_name(SERVICE)))
    task = asyncio.create_task(run_schedule(store, schedule, stop))
    try:
        yield
    finally:
        stop.set()
        # A run under way is abandoned, not awaited (shutdown stays prompt): its lease
        # expires and the next run replaces whatever it had stored.
        task.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await mongo.close()
