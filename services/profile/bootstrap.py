"""Wires the profile service: its subgraph, the collection API, its consumer, its health.

``create_app`` serves ``/graphql``, ``/v1/*`` and the health routes (with the
consumer too when ``with_worker``); ``run_worker`` runs the consumer alone.
"""

from __future__ import annotations

import asyncio
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
from shared.auth import Principal, TokenVerifier, WriteKeys
from shared.runtime import ServiceClients, run_worker_process, service_app
from shared.settings import Settings

SERVICE = "profile"
ALL_INDEXES = (*INDEXES, *quarantine.INDEXES)


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The profile API; clients open in the lifespan, never at import or here."""
    pii = PiiPolicy.of(settings.pii_traits)

    def state(clients: ServiceClients, verifier: TokenVerifier | None) -> dict[str, Any]:
        return {
            "store": MongoProfileStore(clients.database),
            "collector": Collector(
                publisher=clients.bus,
                quarantine=quarantine.MongoQuarantine(clients.database),
                write_keys=WriteKeys(settings.write_keys),
                tokens=verifier,
                max_event_bytes=settings.max_event_bytes,
                max_batch_bytes=settings.max_batch_bytes,
            ),
        }

    async def context(request: Request, principal: Principal) -> ProfileContext:
        return ProfileContext(principal=principal, store=request.state.store, pii=pii)

    return service_app(
        settings,
        SERVICE,
        schema=schema,
        context=context,
        indexes=ALL_INDEXES,
        state=state,
        consumers=worker.consumers if with_worker else None,
        routes=collection_routes(),
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``profile.ingest`` consumer with health on ``profile_port + 100``."""
    await run_worker_process(
        settings,
        stop,
        service=SERVICE,
        health_port=settings.profile_port + 100,
        indexes=INDEXES,
        consumers=worker.consumers,
    )
