"""A collection API app over in-memory ports, for the collector's unit tests."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from starlette.applications import Starlette

from services.profile.adapters.in_memory import InMemoryQuarantine
from services.profile.adapters.ports import QuarantinedEvent
from services.profile.api.collect import collection_routes
from services.profile.api.intake import Collector
from services.profile.ingest import expand
from shared.auth import TokenVerifier, WriteKeys
from shared.bus.in_memory import InMemoryBus
from shared.errors import StorageError
from shared.events import CloudEvent

WRITE_KEY = "wk_test_0123456789"
JWT_SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
NOW = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


class FailingQuarantine(InMemoryQuarantine):
    """A quarantine whose database is down."""

    async def add(self, entries: Sequence[QuarantinedEvent]) -> None:
        raise StorageError("MongoDB is unreachable")


@dataclass
class Harness:
    client: httpx.AsyncClient
    bus: InMemoryBus
    quarantine: InMemoryQuarantine
    collector: Collector

    @property
    def ingested(self) -> list[CloudEvent]:
        """The ingest events published, batch envelopes expanded as the profile consumer does."""
        return expand(self.bus.published)


@asynccontextmanager
async def harness(
    quarantine: InMemoryQuarantine | None = None,
    max_event_bytes: int = 32 * 1024,
    max_batch_bytes: int = 500 * 1024,
) -> AsyncIterator[Harness]:
    bus = InMemoryBus()
    store = quarantine if quarantine is not None else InMemoryQuarantine()
    collector = Collector(
        publisher=bus,
        quarantine=store,
        write_keys=WriteKeys([WRITE_KEY, "another-key"]),
        tokens=TokenVerifier(secret=JWT_SECRET),
        max_event_bytes=max_event_bytes,
        max_batch_bytes=max_batch_bytes,
        clock=lambda: NOW,
        parking=bus,
    )
    app = Starlette(routes=collection_routes(lambda _: collector))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        yield Harness(client, bus, store, collector)
