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
from services.profile.adapters import mongo_quarantine as quarantine
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.api.collect import collection_routes
from services.profile.api.graph import ProfileContext, schema
from services.profile.api.intake import Collector
from services.profile.domain.pii import PiiPolicy
from services.profile.domain.resolution_rules import ResolutionRules
from shared.auth import Principal, TokenVerifier, WriteKeys
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.runtime import ServiceClients, ServiceWiring
from shared.settings import Settings

SERVICE = "profile"
ALL_INDEXES = (*INDEXES, *quarantine.INDEXES)


def resolution_rules(settings: Settings) -> ResolutionRules:
    """The identity resolution rules the settings configure (``THREADLINE_IDENTITY_*``)."""
    return ResolutionRules.of(
        blocked_values=settings.identity_blocked_values,
        blocked_patterns=settings.identity_blocked_patterns,
        priority=settings.identity_priority,
        limits=settings.identity_limits,
        max_merges=settings.identity_max_merges,
        max_identifiers=settings.identity_max_identifiers,
    )


def _wiring(settings: Settings) -> ServiceWiring:
    pii = PiiPolicy.of(settings.pii_traits)
    rules = resolution_rules(settings)

    def consumers(
        database: AsyncDatabase[Document], publisher: Publisher
    ) -> Sequence[ConsumerSpec]:
        return [worker.ingest_consumer(MongoProfileStore(database), publisher, rules)]

    async def context(request: Request, principal: Principal) -> ProfileContext:
        return ProfileContext(
            principal=principal,
            store=request.state.store,
            pii=pii,
            publisher=request.state.publisher,
        )

    def state(clients: ServiceClients, verifier: TokenVerifier | None) -> Mapping[str, Any]:
        return {
            "store": MongoProfileStore(clients.database),
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
        consumers=consumers,
        port_of=lambda settings: settings.profile_port,
        routes=collection_routes(),
        worker_indexes=INDEXES,
    )


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The profile API; clients open in the lifespan, never at import or here."""
    return _wiring(settings).app(settings, with_worker=with_worker)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``profile.ingest`` consumer with health on ``profile_port + 100``."""
    await _wiring(settings).run_worker(settings, stop)
