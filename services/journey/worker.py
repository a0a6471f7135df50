"""The journey consumer: ``journey.events`` projects every resolved customer event."""

from __future__ import annotations

from collections.abc import Sequence

from services.journey.adapters.mongo import MongoJourneyStore
from services.journey.handlers import handle_customer_events
from shared.bus.ports import ConsumerSpec, Publisher
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document

CONSUMER = "journey.events"
BINDINGS = ("customer.event.#",)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> list[ConsumerSpec]:
    del publisher  # the thin slice publishes nothing yet (journey.* events come later)
    store = MongoJourneyStore(database)

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_customer_events(batch, store=store)

    return [ConsumerSpec(CONSUMER, BINDINGS, handle)]
