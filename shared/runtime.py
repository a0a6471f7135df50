"""The process skeleton every service shares: open clients, start consumers, serve health.

A service's ``bootstrap`` names its database indexes and how to build its
consumers from its database and the bus; this module opens MongoDB and the
bus (with the service's inbox) in that order, ensures the indexes, starts the
consumers, and closes everything in reverse on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from strawberry.federation import Schema

from shared.auth import TokenVerifier
from shared.bus.inbox import MongoInbox
from shared.bus.ports import ConsumerSpec
from shared.bus.rabbitmq import Bus
from shared.health import Probe, health_routes
from shared.mongo import AsyncDatabase, Document, Index, Mongo
from shared.ratelimit import RateLimiter
from shared.settings import Settings
from shared.subgraph import AuthenticatedGraphQL, ContextFactory, token_verifier

log = logging.getLogger("threadline.runtime")

ConsumerFactory = Callable[[AsyncDatabase[Document], Bus], Sequence[ConsumerSpec]]
"""Builds a service's consumer groups from its database and the bus (its publisher)."""

BackgroundFactory = Callable[[AsyncDatabase[Document], Bus], Sequence[Coroutine[Any, Any, None]]]
"""Long-running tasks of a service's workers (schedulers): started after the consumers,
cancelled before the clients close."""


@dataclass(frozen=True, slots=True)
class ServiceClients:
    """The open clients of one service process."""

    service: str
    mongo: Mongo
    database: AsyncDatabase[Document]
    bus: Bus

    def probes(self) -> Mapping[str, Probe]:
        return {"mongodb": self.mongo.ping, "rabbitmq": self.bus.ping}


def mongo_client(settings: Settings, service: str) -> Mongo:
    """The process's MongoDB client, with the configured write concern (journaled on a
    majority unless the settings lower it)."""
    return Mongo(
        settings.mongodb_url,
        app_name=f"threadline-{service}",
        w=settings.mongodb_write_concern_w,
        journal=settings.mongodb_journal,
    )


@contextlib.asynccontextmanager
async def service_clients(
    settings: Settings,
    service: str,
    *,
    indexes: Sequence[Index],
    consumers: ConsumerFactory | None = None,
    background: BackgroundFactory | None = None,
) -> AsyncIterator[ServiceClients]:
    """Open MongoDB and the bus, ensure indexes, optionally start consumers and background
    tasks; close on exit."""
    mongo = mongo_client(settings, service)
    database = mongo.database(settings.database_name(service))
    inbox = MongoInbox(database)
    try:
        await mongo.ensure_indexes(database.name, [*indexes, *inbox.indexes()])
        bus = await Bus.connect(settings, source=f"threadline/{service}", inbox=inbox)
        try:
            if consumers is not None:
                for spec in consumers(database, bus):
                    await bus.start(spec)
            jobs = background(database, bus) if background is not None else ()
            tasks = [asyncio.create_task(job) for job in jobs]
            try:
                yield ServiceClients(service=service, mongo=mongo, database=database, bus=bus)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await bus.close()
    finally:
        await mongo.close()


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (the process's runner,
    or pytest): several can run in one event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_worker_process(
    settings: Settings,
    stop: asyncio.Event,
    *,
    service: str,
    health_port: int,
    indexes: Sequence[Index],
    consumers: ConsumerFactory,
    host: str | None = None,
    background: BackgroundFactory | None = None,
) -> None:
    """Run a service's consumers until ``stop`` is set, with /healthz /readyz /metrics."""
    async with service_clients(
        settings, service, indexes=indexes, consumers=consumers, background=background
    ) as clients:

        def probes(_: Request) -> Mapping[str, Probe]:
            return clients.probes()

        app = Starlette(routes=health_routes(probes))
        config = uvicorn.Config(
            app,
            host=host or settings.worker_health_host,
            port=health_port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        server = QuietServer(config)
        serving = asyncio.create_task(server.serve())
        log.info("%s worker consuming; health on port %d", service, health_port)
        try:
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if serving.done():
                serving.result()  # the health server failed (e.g. port taken): say why
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


StateFactory = Callable[[ServiceClients, TokenVerifier | None], Mapping[str, Any]]
"""What a service adds to its lifespan state once its clients are open (stores, collector…)."""


def service_app(
    settings: Settings,
    service: str,
    *,
    schema: Schema,
    context: ContextFactory[Any],
    indexes: Sequence[Index],
    state: StateFactory,
    consumers: ConsumerFactory | None = None,
    routes: Sequence[BaseRoute] = (),
    background: BackgroundFactory | None = None,
) -> Starlette:
    """A service's API process: its subgraph at ``/graphql`` behind the token gate, any
    further ``routes``, and the health routes; clients open in the lifespan, and the
    service's consumers run in the same process when ``consumers`` is given."""
    verifier = token_verifier(
        settings.jwt_secret, settings.jwks_url, settings.jwt_issuer, settings.jwt_audience
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with service_clients(
            settings, service, indexes=indexes, consumers=consumers, background=background
        ) as clients:
            yield {"clients": clients, **state(clients, verifier)}

    def probes(request: Request) -> Mapping[str, Probe]:
        return dict(request.state.clients.probes())

    graphql = AuthenticatedGraphQL(
        schema,
        verifier=verifier,
        context=context,
        limits=settings.graphql_limits,
        rate_limiter=RateLimiter(
            settings.graphql_rate_limit_per_second, settings.graphql_rate_limit_burst
        ),
    )
    return Starlette(
        routes=[Route("/graphql", graphql), *routes, *health_routes(probes)], lifespan=lifespan
    )


@dataclass(frozen=True, slots=True)
class ServiceWiring:
    """What a service's ``bootstrap`` declares; :meth:`app` and :meth:`run_worker` do the rest.

    ``consumers`` is where the service's adapters are wired into its consumer
    groups; ``worker_indexes`` defaults to ``indexes`` (a worker process that
    serves no API may need fewer).
    """

    service: str
    schema: Schema
    context: ContextFactory[Any]
    indexes: Sequence[Index]
    state: StateFactory
    consumers: ConsumerFactory
    port_of: Callable[[Settings], int]
    routes: Sequence[BaseRoute] = ()
    worker_indexes: Sequence[Index] | None = None
    background: BackgroundFactory | None = None

    def app(self, settings: Settings, *, with_worker: bool = False) -> Starlette:
        """The service's API; clients open in the lifespan, never at import or here."""
        return service_app(
            settings,
            self.service,
            schema=self.schema,
            context=self.context,
            indexes=self.indexes,
            state=self.state,
            consumers=self.consumers if with_worker else None,
            routes=self.routes,
            background=self.background if with_worker else None,
        )

    async def run_worker(self, settings: Settings, stop: asyncio.Event) -> None:
        """The service's consumers alone, with health on its API port + 100."""
        await run_worker_process(
            settings,
            stop,
            service=self.service,
            health_port=self.port_of(settings) + 100,
            indexes=self.indexes if self.worker_indexes is None else self.worker_indexes,
            consumers=self.consumers,
            background=self.background,
        )
