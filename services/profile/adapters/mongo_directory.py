"""The customer directory on MongoDB: ``identities`` by key, ``customers`` by trait prefix."""

from __future__ import annotations

import re

from services.profile.adapters.directory_ports import CustomerIdPage, CustomerSearch, page_of
from services.profile.adapters.mongo import CUSTOMERS, IDENTITIES, escape_key
from shared.mongo import AsyncDatabase, Document, storage_errors


class MongoCustomerDirectory:
    """The :class:`~services.profile.adapters.directory_ports.CustomerDirectory` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._customers = database[CUSTOMERS]
        self._identities = database[IDENTITIES]

    async def search(self, search: CustomerSearch, first: int, after: str | None) -> CustomerIdPage:
        query: Document = {}
        async with storage_errors("searching customers"):
            if not search.everyone:
                query["$or"] = await self._matches(search)
            if after is not None:
                query["_id"] = {"$gt": after}
            cursor = self._customers.find(query, {"_id": 1}).sort("_id", 1).limit(first + 1)
            ids = [str(doc["_id"]) async for doc in cursor]
        return page_of(ids, first)

    async def _matches(self, search: CustomerSearch) -> list[Document]:
        owners: list[str] = []
        if search.identities:
            keys = [identity.key for identity in search.identities]
            cursor = self._identities.find({"_id": {"$in": keys}}, {"customerId": 1})
            owners = [str(doc["customerId"]) async for doc in cursor]
        clauses: list[Document] = [{"_id": {"$in": owners}}]
        if search.prefix:
            pattern = {"$regex": "^" + re.escape(search.prefix), "$options": "i"}
            clauses += [{f"traits.{escape_key(t)}.value": pattern} for t in search.traits]
        return clauses
