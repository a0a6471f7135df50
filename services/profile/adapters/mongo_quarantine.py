"""Quarantine: collected events that failed validation, kept with their reason for replay.

Nothing the collection API accepted past authentication is dropped: an event
that fails normalization is stored here (its raw payload as sent, the errors,
the receive time) and can be listed and replayed once the cause is fixed.
Collection ``quarantine`` in the profile database (``threadline_profile``).

Entry ids are derived from the source and the message id, so a client that
retries a rejected batch does not quarantine its events twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import UpdateOne

from services.profile.adapters.ports import QuarantinedEvent, Status
from shared.mongo import AsyncDatabase, Document, Index, ascending, storage_errors

COLLECTION = "quarantine"
INDEXES = (Index(COLLECTION, ascending("status", "receivedAt"), name="status_received"),)


class MongoQuarantine:
    """The quarantine in MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database[COLLECTION]

    async def add(self, entries: Sequence[QuarantinedEvent]) -> None:
        if not entries:
            return
        operations = [
            UpdateOne({"_id": e.id}, {"$setOnInsert": e.to_document()}, upsert=True)
            for e in entries
        ]
        async with storage_errors("quarantining rejected events"):
            await self._collection.bulk_write(operations, ordered=False)

    async def browse(
        self, limit: int = 100, status: Status | None = "pending"
    ) -> list[QuarantinedEvent]:
        query: Document = {} if status is None else {"status": status}
        async with storage_errors("listing quarantined events"):
            cursor = self._collection.find(query).sort([("receivedAt", 1), ("_id", 1)])
            docs = await cursor.limit(limit).to_list(None)
        return [QuarantinedEvent.from_document(doc) for doc in docs]

    async def get(self, ids: Sequence[str]) -> list[QuarantinedEvent]:
        async with storage_errors("reading quarantined events"):
            docs = await self._collection.find({"_id": {"$in": list(ids)}}).to_list(None)
        return [QuarantinedEvent.from_document(doc) for doc in docs]

    async def mark_replayed(self, ids: Sequence[str], at: datetime) -> None:
        if not ids:
            return
        async with storage_errors("marking quarantined events replayed"):
            await self._collection.update_many(
                {"_id": {"$in": list(ids)}},
                {"$set": {"status": "replayed", "replayedAt": at}, "$inc": {"attempts": 1}},
            )

    async def record_failure(self, entry_id: str, errors: dict[str, str]) -> None:
        listed = [{"field": f, "reason": r} for f, r in errors.items()]
        async with storage_errors("recording a failed replay"):
            await self._collection.update_one(
                {"_id": entry_id}, {"$set": {"errors": listed}, "$inc": {"attempts": 1}}
            )
