"""Wires the profile service: its subgraph, the collection API, its consumer, its health.

The one place that builds the profile's adapters (``MongoProfileStore``,
``MongoQuarantine``, ``MongoSegmentStore``, ``MongoCustomerDirectory``,
``MongoPrivacyStore``, ``MongoHygieneStore``) and hands them to the API, the
collector, the ``profile.ingest``, ``profile.privacy`` and ``profile.facts``
consumers and the background tasks of every worker process (the segment scheduler,
the hygiene schedule). ``create_app`` serves ``/graphql``, ``/v1/*`` and the health
routes (with the consumers and background tasks too when ``with_worker``);
``run_worker`` runs the consumers and background tasks alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from services.profile import worker
from services.profile.adapters import mongo_privacy, mongo_segments
from services.profile.adapters import mongo_quarantine as quarantine
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_directory import MongoCustomerDirectory
from services.profile.adapters.mongo_hygiene import MongoHygieneStore
from services.profile.adapters.mongo_privacy import MongoPrivacyStore
from services.profile.api.collect import collection_routes
from services.profile.api.graph import ProfileContext, schema
from services.profile.api.graph_privacy import request_id_of
from services.profile.api.graph_segments import SegmentAccess
from services.profile.api.intake import Collector
from services.profile.domain.hygiene import HygienePolicy
from services.profile.domain.pii import PiiPolicy
from services.profile.domain.resolution_rules import ResolutionRules
from services.profile.domain.traits import TraitRules
from services.profile.hygiene_schedule import HygieneSchedule, run_schedule
from services.profile.privacy_jobs import PrivacyRuntime, privacy_consumer
from services.profile.screening import PrivacyGate
from services.profile.segmenting import SegmentEngine
from shared.auth import Principal, TokenVerifier, WriteKeys
from shared.bus.ports import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document
from shared.runtime import ServiceClients, ServiceWiring
from shared.settings import Settings

SERVICE = "profile"
WORKER_INDEXES = (*INDEXES, *mongo_privacy.INDEXES, *mongo_segments.INDEXES)
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


def segment_engine(
    database: AsyncDatabase[Document], publisher: Publisher, settings: Settings
) -> SegmentEngine:
    return SegmentEngine(
        profiles=MongoProfileStore(database),
        segments=mongo_segments.MongoSegmentStore(database),
        publisher=publisher,
        lease=timedelta(seconds=settings.segment_claim_seconds),
        job_page=settings.segment_job_page_size,
    )


def consumers(
    database: AsyncDatabase[Document], publisher: Publisher, settings: Settings | None = None
) -> Sequence[ConsumerSpec]:
    """``profile.ingest`` behind the privacy gate, ``profile.privacy`` (the jobs) and
    ``profile.facts`` (what segments read from other services)."""
    settings = settings or Settings()
    runtime = privacy_runtime(settings, database, publisher)
    gate = PrivacyGate(runtime.privacy, runtime.salt, runtime.pii)
    traits = TraitRules.of(settings.trait_strategies)
    segments = segment_engine(database, publisher, settings)
    return [
        worker.ingest_consumer(
            runtime.profile, publisher, gate, resolution_rules(settings), traits, segments
        ),
        privacy_consumer(runtime),
        worker.facts_consumer(segments),
    ]


def background(
    database: AsyncDatabase[Document], publisher: Publisher, settings: Settings
) -> Sequence[Coroutine[Any, Any, None]]:
    """What each worker process runs beside its consumers: the segment scheduler (window
    expiry, re-evaluation jobs) and the data-hygiene reconciliation (unless
    ``THREADLINE_HYGIENE_INTERVAL_SECONDS`` is 0). Both claim their work by leases, so
    every worker process may run them; they are cancelled at shutdown (a hygiene run under
    way is abandoned: its lease expires and the next run replaces what it stored)."""
    segments = segment_engine(database, publisher, settings)
    tasks = [worker.run_scheduler(segments, settings.segment_scheduler_interval_seconds)]
    if settings.hygiene_interval_seconds > 0:
        store = MongoHygieneStore(database)
        tasks.append(run_schedule(store, hygiene_schedule(settings), asyncio.Event()))
    return tasks


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
    _ = settings.identifier_salt  # fail fast: production needs THREADLINE_PRIVACY_SALT

    async def context(request: Request, principal: Principal) -> ProfileContext:
        segments = SegmentAccess(
            store=request.state.segments,
            directory=request.state.directory,
            search_traits=settings.customer_search_traits,
        )
        return ProfileContext(
            principal=principal,
            store=request.state.store,
            pii=pii,
            privacy=request.state.privacy,
            request_id=request_id_of(request.headers),
            publisher=request.state.publisher,
            segments=segments,
            hygiene=request.state.hygiene,
            default_region=settings.default_phone_region,
        )

    def state(clients: ServiceClients, verifier: TokenVerifier | None) -> Mapping[str, Any]:
        return {
            "store": MongoProfileStore(clients.database),
            "privacy": privacy_runtime(settings, clients.database, clients.bus),
            "publisher": clients.bus,
            "segments": mongo_segments.MongoSegmentStore(clients.database),
            "directory": MongoCustomerDirectory(clients.database),
            "hygiene": MongoHygieneStore(clients.database),
            "collector": Collector(
                publisher=clients.bus,
                quarantine=quarantine.MongoQuarantine(clients.database),
                write_keys=WriteKeys(settings.write_keys),
                tokens=verifier,
                max_event_bytes=settings.max_event_bytes,
                max_batch_bytes=settings.max_batch_bytes,
                parking=clients.bus,
                default_region=settings.default_phone_region,
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
        background=lambda database, bus: background(database, bus, settings),
    )


def create_app(settings: Settings, *, with_worker: bool = False) -> Starlette:
    """The profile API; clients open in the lifespan, never at import or here. With its
    worker, the process also runs the worker's background tasks."""
    return _wiring(settings).app(settings, with_worker=with_worker)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The profile's consumers with health on ``profile_port + 100``, and the background
    tasks (segment scheduler, hygiene schedule)."""
    await _wiring(settings).run_worker(settings, stop)


def hygiene_schedule(settings: Settings) -> HygieneSchedule:
    return HygieneSchedule(
        interval=timedelta(seconds=settings.hygiene_interval_seconds),
        policy=HygienePolicy(
            required_traits=settings.hygiene_required_traits,
            max_future=timedelta(seconds=settings.hygiene_max_future_seconds),
            max_lag=timedelta(days=settings.hygiene_max_lag_days),
        ),
    )
