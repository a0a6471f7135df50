"""The profile consumer: ``profile.ingest`` resolves every ``ingest.*`` event.

Batch envelopes (``ingest.batch``, one per partition key of a collected
request) are expanded into their ingest events, in order, before resolution;
each inner event keeps its own id, and the handler's writes are keyed by it, so
a batch retried with another composition has no second effect. A malformed
envelope raises, so the bus retries it and then parks the whole message.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.profile.adapters.mongo import MongoProfileStore
from services.profile.adapters.ports import ProfileStore
from services.profile.api.ingest_batch import expand
from services.profile.handlers import handle_ingested
from shared.bus.ports import ConsumerSpec, Publisher
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document

CONSUMER = "profile.ingest"
BINDINGS = ("ingest.#",)


def consumers(database: AsyncDatabase[Document], publisher: Publisher) -> list[ConsumerSpec]:
    return [ingest_consumer(MongoProfileStore(database), publisher)]


def ingest_consumer(store: ProfileStore, publisher: Publisher) -> ConsumerSpec:
    """The ``profile.ingest`` group over any profile store (unit tests pass an in-memory one)."""

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_ingested(expand(batch), store=store, publisher=publisher)

    return ConsumerSpec(CONSUMER, BINDINGS, handle)
