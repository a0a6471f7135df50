"""MongoInbox: the processed-event ids of a service's consumers, in its own database.

One document per (consumer, event id), ``_id = "<consumer>:<event id>"``, so
``unseen`` is a single ``_id $in`` lookup. A TTL index on ``processed_at``
keeps the collection bounded: redeliveries arrive within minutes, replays of
parked events within days, so seven days of memory is plenty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pymongo import UpdateOne

from shared.mongo import AsyncDatabase, Document, Index, ascending, storage_errors

COLLECTION = "inbox"
RETENTION_SECONDS = 7 * 24 * 3600


class MongoInbox:
    """The :class:`shared.messaging.Inbox` port on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document], *, collection: str = COLLECTION) -> None:
        self._collection = database[collection]
        self._name = collection

    def indexes(self) -> list[Index]:
        """The TTL index that bounds the inbox; pass to ``Mongo.ensure_indexes``."""
        return [
            Index(
                self._name,
                ascending("processed_at"),
                name="inbox_ttl",
                expire_after_seconds=RETENTION_SECONDS,
            )
        ]

    async def ensure_indexes(self) -> None:
        async with storage_errors("creating the inbox indexes"):
            await self._collection.create_indexes([index.model() for index in self.indexes()])

    async def unseen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        keys = {_key(consumer, event_id): event_id for event_id in event_ids}
        async with storage_errors(f"reading the inbox of {consumer}"):
            cursor = self._collection.find({"_id": {"$in": list(keys)}}, {"_id": 1})
            seen = {doc["_id"] async for doc in cursor}
        return {event_id for key, event_id in keys.items() if key not in seen}

    async def mark(self, consumer: str, event_ids: Sequence[str]) -> None:
        if not event_ids:
            return
        now = datetime.now(UTC)
        # Upserts, not inserts: marking twice (a redelivered batch) is harmless.
        writes = [
            UpdateOne(
                {"_id": _key(consumer, event_id)},
                {"$setOnInsert": {"processed_at": now}},
                upsert=True,
            )
            for event_id in dict.fromkeys(event_ids)
        ]
        async with storage_errors(f"recording processed events of {consumer}"):
            await self._collection.bulk_write(writes, ordered=False)


def _key(consumer: str, event_id: str) -> str:
    return f"{consumer}:{event_id}"
