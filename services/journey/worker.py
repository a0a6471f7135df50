"""The journey consumer: ``journey.events`` projects every resolved customer event."""

from __future__ import annotations

from collections.abc import Sequence

from services.journey.adapters.ports import JourneyStore
from services.journey.handlers import handle_customer_events
from shared.bus.ports import ConsumerSpec
from shared.events import CloudEvent

CONSUMER = "journey.events"
BINDINGS = ("customer.event.#",)


def events_consumer(store: JourneyStore) -> ConsumerSpec:
    """The ``journey.events`` group over any journey store; ``bootstrap`` wires the real one.

    It publishes nothing yet (``journey.*`` events come later).
    """

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_customer_events(batch, store=store)

    return ConsumerSpec(CONSUMER, BINDINGS, handle)
