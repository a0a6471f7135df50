"""The scoring consumer: ``scoring.events`` folds every resolved customer event into metrics."""

from __future__ import annotations

from collections.abc import Sequence

from services.scoring.adapters.ports import MetricsStore
from services.scoring.handlers import handle_customer_events
from shared.bus.ports import ConsumerSpec
from shared.events import CloudEvent

CONSUMER = "scoring.events"
BINDINGS = ("customer.event.#",)


def events_consumer(store: MetricsStore) -> ConsumerSpec:
    """The ``scoring.events`` group over any metrics store; ``bootstrap`` wires the real one.

    It publishes nothing yet (``score.changed`` comes with the full scoring issue).
    """

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_customer_events(batch, store=store)

    return ConsumerSpec(CONSUMER, BINDINGS, handle)
