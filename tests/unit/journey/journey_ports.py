"""The journey handlers' ports in memory, for unit tests of handlers and the graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.journey.adapters.in_memory import (
    InMemoryCatalogStore,
    InMemoryIdentityStore,
    InMemoryJourneyStore,
    InMemoryStateStore,
)
from services.journey.handlers import JourneyPorts
from shared.events import CloudEvent

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
        publisher=publisher if publisher is not None else RecordingPublisher(),
        clock=clock if clock is not None else Clock(),
    )
