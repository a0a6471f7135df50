"""MongoInbox: the processed-event ids of a service's consumers, in its own database.

One document per (consumer, event id), ``_id = "<consumer>:<event id>"``, so
``unseen`` is a single ``_id $in`` lookup and ``mark`` one unordered
``insert_many`` per batch (an insert costs SecantusDB a third of an upsert; a
duplicate ``_id`` just means the id was recorded before). A TTL index on ``processed_at``
keeps the collection bounded: redeliveries arrive within minutes, replays of
parked events within days, so seven days of memory is plenty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pymongo.errors import BulkWriteError, PyMongoError

from shared.errors import StorageError
from shared.mongo import AsyncDatabase, Document, Index, ascending, storage_errors

COLLECTION = "inbox"
RETENTION_SECONDS = 7 * 24 * 3600
DUPLICATE_KEY = 11000


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
        documents = [
            {"_id": _key(consumer, event_id), "processed_at": now}
            for event_id in dict.fromkeys(event_ids)
        ]
        try:
            await self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            # Marking twice (a redelivered batch) is harmless: the duplicates are refused
            # and every other id of the batch is recorded all the same (unordered).
            errors = exc.details.get("writeErrors", [])
            if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise StorageError(
                    f"recording processed events of {consumer} failed: {exc.details}"
                ) from exc
        except PyMongoError as exc:
            raise StorageError(f"recording processed events of {consumer} failed: {exc}") from exc


def _key(consumer: str, event_id: str) -> str:
    return f"{consumer}:{event_id}"
