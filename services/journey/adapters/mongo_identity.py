"""Identity changes on MongoDB: the alias map of merged ids, erased ids, re-keying.

The alias map is flat: when a survivor is itself merged later, every id that
pointed at it is re-pointed, so one lookup always gives the current survivor.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import UpdateOne

from services.journey.adapters.mongo import (
    ALIASES,
    CUSTOMERS,
    ERASED,
    FIRED,
    FRICTIONS,
    PROGRESS,
    SEGMENTS,
    TOUCHPOINTS,
)
from shared.events import utcnow
from shared.mongo import AsyncDatabase, Document, storage_errors


class MongoIdentityStore:
    """:class:`~services.journey.adapters.ports.IdentityStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._db = database
        self._aliases = database[ALIASES]
        self._erased = database[ERASED]

    async def aliases(self, customer_ids: Sequence[str]) -> dict[str, str]:
        if not customer_ids:
            return {}
        async with storage_errors("reading customer aliases"):
            cursor = self._aliases.find({"_id": {"$in": list(set(customer_ids))}})
            return {str(doc["_id"]): str(doc["survivor"]) async for doc in cursor}

    async def record_merge(self, survivor: str, merged: Sequence[str]) -> None:
        others = [cid for cid in merged if cid != survivor]
        if not others:
            return
        async with storage_errors("recording a merge"):
            # The survivor may have been merged away before (events out of order): it is
            # then no alias of its own.
            await self._aliases.delete_one({"_id": survivor})
            await self._aliases.update_many(
                {"survivor": {"$in": others}}, {"$set": {"survivor": survivor}}
            )
            await self._aliases.bulk_write(
                [
                    UpdateOne({"_id": cid}, {"$set": {"survivor": survivor}}, upsert=True)
                    for cid in others
                ],
                ordered=False,
            )

    async def rekey(self, survivor: str, merged: Sequence[str]) -> None:
        others = [cid for cid in merged if cid != survivor]
        if not others:
            return
        match = {"customerId": {"$in": others}}
        async with storage_errors("re-keying merged customers"):
            await self._db[TOUCHPOINTS].update_many(match, {"$set": {"customerId": survivor}})
            await self._db[FIRED].update_many(match, {"$set": {"customerId": survivor}})
            await self._db[PROGRESS].delete_many(match)
            await self._db[FRICTIONS].delete_many(match)
            await self._db[CUSTOMERS].delete_many({"_id": {"$in": others}})

    async def move(self, ingest_ids: Sequence[str], source: str, target: str) -> None:
        if not ingest_ids:
            return
        async with storage_errors("splitting a customer"):
            await self._db[TOUCHPOINTS].update_many(
                {"customerId": source, "eventId": {"$in": list(ingest_ids)}},
                {"$set": {"customerId": target}},
            )

    async def erased(self, customer_ids: Sequence[str]) -> set[str]:
        if not customer_ids:
            return set()
        async with storage_errors("reading erased customers"):
            cursor = self._erased.find({"_id": {"$in": list(set(customer_ids))}}, {"_id": 1})
            return {str(doc["_id"]) async for doc in cursor}

    async def erase(self, customer_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return
        match = {"customerId": {"$in": ids}}
        async with storage_errors("erasing customers"):
            # Remembered first: an event arriving while the deletes run is dropped.
            await self._erased.bulk_write(
                [
                    UpdateOne({"_id": cid}, {"$setOnInsert": {"at": utcnow()}}, upsert=True)
                    for cid in ids
                ],
                ordered=False,
            )
            for name in (TOUCHPOINTS, PROGRESS, FRICTIONS, FIRED, SEGMENTS):
                await self._db[name].delete_many(match)
            await self._db[CUSTOMERS].delete_many({"_id": {"$in": ids}})
            await self._aliases.delete_many(
                {"$or": [{"_id": {"$in": ids}}, {"survivor": {"$in": ids}}]}
            )
