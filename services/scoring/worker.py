"""The scoring consumer: ``scoring.events`` folds every resolved customer event into metrics."""

from __future__ import annotations

from collections.abc import Sequence

from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.handlers import handle_customer_events
from shared.bus.ports import ConsumerSpec, Publisher
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document

CONSUMER = "scoring.events"
BINDINGS = ("customer.event.#",)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> list[ConsumerSpec]:
    del publisher  # score.changed (threshold crossings) comes with the full scoring issue
    store = MongoMetricsStore(database)

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_customer_events(batch, store=store)

    return [ConsumerSpec(CONSUMER, BINDINGS, handle)]
