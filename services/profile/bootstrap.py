"""Wires the profile service: its subgraph, the collection API, its consumer, its health.

The one place that builds the profile's adapters (``MongoProfileStore``,
``MongoQuarantine``) and hands them to the API, the collector and the
``profile.ingest`` consumer. ``create_app`` serves ``/graphql``, ``/v1/*`` and
the health routes (with the consumer too when ``with_worker``); ``run_worker``
runs the consumer alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from services.profile import worker
from services.profile.adapters import mongo_privacy
from services.profile.adapters import mongo_quarantine as quarantine
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_privacy import MongoPrivacyStore
from services.profile.api.collect import collection_routes
from services.profile.api.graph import ProfileContext, schema
from services.profile.api.graph_privacy import request_id_of
from services.profile.api.intake import Collector
from services.profile.domain.pii import PiiPolicy
from services.profile.domain.traits import TraitRules
from services.profile.privacy_jobs import PrivacyRuntime, privacy_consumer
from services.profile.screening import PrivacyGate
from shared.auth import Principal, TokenVerifier, WriteKeys
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.runtime import ServiceClients, ServiceWiring
from shared.settings import Settings

SERVICE = "profile"
WORKER_INDEXES = (*INDEXES, *mongo_privacy.INDEXES)
ALL_INDEXES = (*WORKER_INDEXES, *quarantine.INDEXES)


def privacy_runtime(
    settings: Settings, database: AsyncDatabase[Document], publisher: Publisher
) -> PrivacyRuntime:
    """The privacy jobs' runtime: the profile's stores, the bus, the deployment's salt."""
    return PrivacyRuntime(
        profile=MongoProfileStore(database),
        privacy=MongoPrivacyStore(database),
        publisher=publisher,
        salt=settings.identifier_salt,
        pii=PiiPolicy.of(settings.pii_traits),
    )


def consumers(
    database: AsyncDatabase[Document], publisher: Publisher, settings: Settings | None = None
) -> Sequence[ConsumerSpec]:
    """``profile.ingest`` behind the privacy gate, and ``profile.privacy`` (the jobs)."""
    settings = settings or Settings()
    runtime = privacy_runtime(settings, database, publisher)
    gate = PrivacyGate(runtime.privacy, runtime.salt, runtime.pii)
    rules = TraitRules.of(settings.trait_strategies)
    return [
        worker.ingest_consumer(runtime.profile, publisher, gate, rules),
        privacy_consumer(runtime),
    ]


def _wiring(settings: Settings) -> ServiceWiring:
    pii = PiiPolicy.of(settings.pii_traits)
    _ = settings.identifier_salt  # fail fast: production needs THREADLINE_PRIVACY_SALT

    async def context(request: Request, principal: Principal) -> ProfileContext:
        return ProfileContext(
            principal=principal,
            store=request.state.store,
            pii=pii,
            privacy=request.state.privacy,
            request_id=request_id_of(request.headers),
            publisher=request.state.publisher,
        )

    def state(clients: ServiceClients, verifier: TokenVerifier | None) -> Mapping[str, Any]:
        return {
            "store": MongoProfileStore(clients.database),
            "privacy": privacy_runtime(settings, clients.database, clients.bus),
            "publisher": clients.bus,
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
        consumers=lambda database, bus: consumers(database, bus, settings),
        port_of=lambda settings: settings.profile_port,
        routes=collection_routes(),
        worker_indexes=WORKER_INDEXES,
    )


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The profile API; clients open in the lifespan, never at import or here."""
    return _wiring(settings).app(settings, with_worker=with_worker)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``profile.ingest`` consumer with health on ``profile_port + 100``."""
    await _wiring(settings).run_worker(settings, stop)
