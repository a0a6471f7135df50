"""What the scheduled re-scoring pass reads and records on MongoDB.

- Purchase histories page by page straight from ``scoring_facts`` (the KPI
  store's facts, ``kpi_store.py``): order facts sorted by customer id, read
  with one cursor per page of customers over a partial index that holds only
  order facts, so a pass over 100,000 customers is a hundred reads, not a
  hundred thousand.
- ``rescoring_passes``: one document per completed pass, ``_id`` its key
  (``day:<YYYY-MM-DD>`` or ``clv:<model version>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateOne

from services.scoring.adapters.kpi_store import FACTS, fact_from_document
from services.scoring.domain.kpi_facts import KpiEvent
from shared.mongo import AsyncDatabase, Document, Index, ascending, storage_errors

PASSES = "rescoring_passes"
ORDERS_BY_CUSTOMER = "customerId_1_orders"

INDEXES: tuple[Index, ...] = (
    Index(
        FACTS,
        ascending("customerId"),
        name=ORDERS_BY_CUSTOMER,
        partial={"orderId": {"$exists": True}},
    ),
)

_ORDER_FIELDS = {"customerId": 1, "at": 1, "channel": 1, "orderId": 1, "amount": 1, "currency": 1}


class MongoRescoringStore:
    """:class:`~services.scoring.adapters.ports.RescoringStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._facts = database[FACTS]
        self._passes = database[PASSES]

    async def purchase_histories(
        self, *, after: str | None, until: datetime, customers: int
    ) -> dict[str, list[KpiEvent]]:
        query: dict[str, Any] = {"orderId": {"$exists": True}, "at": {"$lte": until}}
        if after is not None:
            query["customerId"] = {"$gt": after}
        found: dict[str, list[KpiEvent]] = {}
        async with storage_errors("reading purchase histories for re-scoring"):
            # Hinted: a planner may otherwise scan and sort every fact for each page.
            cursor = self._facts.find(
                query, _ORDER_FIELDS, sort=[("customerId", 1)], hint=ORDERS_BY_CUSTOMER
            )
            try:
                async for doc in cursor:
                    customer = str(doc["customerId"])
                    if customer not in found and len(found) == customers:
                        break  # the page is full and its last customer complete
                    found.setdefault(customer, []).append(fact_from_document(doc).event)
            finally:
                await cursor.close()
        return found

    async def passes_done(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        async with storage_errors("reading re-scoring passes"):
            cursor = self._passes.find({"_id": {"$in": wanted}}, {"_id": 1})
            return {str(doc["_id"]) async for doc in cursor}

    async def mark_done(self, keys: Sequence[str], at: datetime) -> None:
        if not keys:
            return
        async with storage_errors("recording re-scoring passes"):
            await self._passes.bulk_write(
                [UpdateOne({"_id": k}, {"$set": {"doneAt": at}}, upsert=True) for k in keys],
                ordered=False,
            )
