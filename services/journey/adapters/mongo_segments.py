"""Segment membership on MongoDB, one document per (segment, customer).

Events about one membership may arrive late or twice: a write applies only when its
``version`` is above the stored one (a conditional upsert whose duplicate-key error
means a newer version is already there).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.journey.adapters.mongo import SEGMENTS
from shared.events import derived_id
from shared.mongo import AsyncDatabase, Document, DuplicateKeyError, storage_errors


class MongoSegmentStore:
    """:class:`~services.journey.adapters.ports.SegmentStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._members = database[SEGMENTS]

    async def record(
        self, segment_id: str, customer_id: str, member: bool, version: int, at: datetime
    ) -> None:
        key = derived_id("segment", segment_id, customer_id)
        newer = {"$or": [{"version": {"$lt": version}}, {"version": {"$exists": False}}]}
        values = {"segmentId": segment_id, "customerId": customer_id, "member": member,
                  "version": version, "at": at}  # fmt: skip
        try:
            async with storage_errors("recording a segment membership"):
                await self._members.update_one({"_id": key, **newer}, {"$set": values}, upsert=True)
        except DuplicateKeyError:
            return  # a newer version is stored

    async def members(self, segment_id: str) -> set[str]:
        async with storage_errors("reading a segment's members"):
            cursor = self._members.find(
                {"segmentId": segment_id, "member": True}, {"customerId": 1}
            )
            return {str(doc["customerId"]) async for doc in cursor}

    async def rekey(self, survivor: str, merged: Sequence[str]) -> None:
        others = [cid for cid in merged if cid != survivor]
        if not others:
            return
        async with storage_errors("re-keying segment memberships"):
            async for doc in self._members.find({"customerId": {"$in": others}}):
                await self.record(
                    str(doc["segmentId"]), survivor, bool(doc["member"]), int(doc["version"]),
                    doc["at"],
                )  # fmt: skip
            await self._members.delete_many({"customerId": {"$in": others}})
