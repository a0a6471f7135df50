"""The profile consumer: ``profile.ingest`` resolves every ``ingest.*`` event."""

from __future__ import annotations

from collections.abc import Sequence

from services.profile.adapters.mongo_store import MongoProfileStore
from services.profile.handlers import handle_ingested
from shared.events import CloudEvent
from shared.messaging import ConsumerSpec, Publisher
from shared.mongo import AsyncDatabase, Document

CONSUMER = "profile.ingest"
BINDINGS = ("ingest.#",)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> list[ConsumerSpec]:
    store = MongoProfileStore(database)

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_ingested(batch, store=store, publisher=publisher)

    return [ConsumerSpec(CONSUMER, BINDINGS, handle)]
