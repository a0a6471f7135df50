"""The journey handlers' ports in memory, for unit tests of handlers and the graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.journey.adapters.in_memory import (
    InMemoryAnalyticsStore,
    InMemoryCatalogStore,
    InMemoryIdentityStore,
    InMemoryJourneyStore,
    InMemorySegmentStore,
    InMemoryStateStore,
)
from services.journey.adapters.mongo import MongoJourneyStore
from services.journey.adapters.mongo_analytics import MongoAnalyticsStore
from services.journey.adapters.mongo_catalog import MongoCatalogStore
from services.journey.adapters.mongo_identity import MongoIdentityStore
from services.journey.adapters.mongo_segments import MongoSegmentStore
from services.journey.adapters.mongo_state import MongoStateStore
from services.journey.adapters.ports import AnalyticsStore
from services.journey.api.graph import JourneyContext, schema
from services.journey.handlers import JourneyPorts
from shared.auth import Principal
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document

NOW = datetime(2026, 3, 10, tzinfo=UTC)


@dataclass
class RecordingPublisher:
    """Keeps what was published, in order."""

    published: list[CloudEvent] = field(default_factory=list)

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        self.published.extend(events)

    def of_type(self, suffix: str) -> list[CloudEvent]:
        return [e for e in self.published if e.type.endswith(suffix)]


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def memory_ports(
    store: InMemoryJourneyStore | None = None,
    *,
    publisher: RecordingPublisher | None = None,
    clock: Callable[[], datetime] | None = None,
) -> JourneyPorts:
    store = store if store is not None else InMemoryJourneyStore()
    state = InMemoryStateStore(store)
    return JourneyPorts(
        touchpoints=store,
        state=state,
        identity=InMemoryIdentityStore(state),
        catalog=InMemoryCatalogStore(),
        segments=InMemorySegmentStore(),
        publisher=publisher if publisher is not None else RecordingPublisher(),
        clock=clock if clock is not None else Clock(),
    )


def mongo_ports(
    database: AsyncDatabase[Document], *, publisher: RecordingPublisher, clock: Clock
) -> JourneyPorts:
    return JourneyPorts(
        touchpoints=MongoJourneyStore(database),
        state=MongoStateStore(database),
        identity=MongoIdentityStore(database),
        catalog=MongoCatalogStore(database),
        segments=MongoSegmentStore(database),
        publisher=publisher,
        clock=clock,
    )


ADMIN = Principal(subject="journey-test", scopes=frozenset({"customers:read", "admin"}))


@dataclass
class Flow:
    """A journey service under test: its ports, what it published, its clock, its graph."""

    ports: JourneyPorts
    publisher: RecordingPublisher
    clock: Clock
    analytics: AnalyticsStore

    def context(self, principal: Principal = ADMIN) -> JourneyContext:
        return JourneyContext(
            principal=principal,
            store=self.ports.touchpoints,
            catalog=self.ports.catalog,
            analytics=self.analytics,
            segments=self.ports.segments,
        )

    async def graph(self, query: str, **variables: Any) -> dict[str, Any]:
        result = await schema.execute(
            query, variable_values=variables, context_value=self.context()
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    async def customer(self, customer_id: str, selection: str) -> dict[str, Any]:
        query = (
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { "
            + selection
            + " } } }"
        )
        data = await self.graph(query, r=[{"__typename": "Customer", "id": customer_id}])
        found: dict[str, Any] = data["_entities"][0]
        return found


def memory_flow() -> Flow:
    publisher, clock = RecordingPublisher(), Clock()
    ports = memory_ports(publisher=publisher, clock=clock)
    assert isinstance(ports.touchpoints, InMemoryJourneyStore)
    return Flow(ports, publisher, clock, InMemoryAnalyticsStore(ports.touchpoints))


def mongo_flow(database: AsyncDatabase[Document]) -> Flow:
    publisher, clock = RecordingPublisher(), Clock()
    ports = mongo_ports(database, publisher=publisher, clock=clock)
    return Flow(ports, publisher, clock, MongoAnalyticsStore(database))
