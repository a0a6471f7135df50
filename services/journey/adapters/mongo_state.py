"""The recomputed journey state on MongoDB: progress, frictions, fired triggers, due dates.

A customer's progress (one document per journey) and frictions (one per friction id)
are replaced wholesale by each recomputation: upserts of what it found, deletion of
what it no longer finds. Fired triggers are inserted once by occurrence id. The
``journey_customers`` document holds when the customer is next due for the scheduler
and the scheduler's claim on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne

from services.journey.adapters.mongo import (
    CUSTOMERS,
    FIRED,
    FRICTIONS,
    PROGRESS,
    STAGE_TIMES,
    visit_from_document,
)
from services.journey.adapters.state_writes import (
    Stored,
    customer_write,
    friction_writes,
    progress_writes,
)
from services.journey.domain.projection import Known, Projection
from services.journey.domain.stages import Progress
from shared.mongo import WHOLE_BATCH, AsyncDatabase, Document, storage_errors


class MongoStateStore:
    """:class:`~services.journey.adapters.ports.StateStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._progress = database[PROGRESS]
        self._frictions = database[FRICTIONS]
        self._fired = database[FIRED]
        self._customers = database[CUSTOMERS]
        self._stage_times = database[STAGE_TIMES]

    async def known(self, customer_ids: Sequence[str]) -> dict[str, Known]:
        ids = list(dict.fromkeys(customer_ids))
        progresses: dict[str, dict[str, Progress]] = {cid: {} for cid in ids}
        frictions: dict[str, set[str]] = {cid: set() for cid in ids}
        fired: dict[str, set[str]] = {cid: set() for cid in ids}
        match = {"customerId": {"$in": ids}}
        async with storage_errors("reading journey state"):
            async for doc in self._progress.find(match, batch_size=WHOLE_BATCH):
                found = _progress(doc)
                progresses[found.customer_id][found.journey_id] = found
            async for doc in self._frictions.find(match, {"_id": 1, "customerId": 1}):
                frictions[str(doc["customerId"])].add(str(doc["_id"]))
            async for doc in self._fired.find(match, {"_id": 1, "customerId": 1}):
                fired[str(doc["customerId"])].add(str(doc["_id"]))
        return {
            cid: Known(progresses[cid], frozenset(frictions[cid]), frozenset(fired[cid]))
            for cid in ids
        }

    async def save(self, projections: Sequence[Projection], names: Mapping[str, str]) -> None:
        stored = await self._stored([found.customer_id for found in projections])
        progress_ops: list[Any] = []
        friction_ops: list[Any] = []
        fired_ops: list[Any] = []
        customer_ops: list[Any] = []
        for found in projections:
            progress_ops.extend(progress_writes(found, names, stored))
            friction_ops.extend(friction_writes(found, stored))
            fired_ops.extend(
                UpdateOne(
                    {"_id": fired.occurrence},
                    {
                        "$setOnInsert": {
                            "customerId": found.customer_id,
                            "triggerId": fired.trigger_id,
                            "at": fired.at,
                        }
                    },
                    upsert=True,
                )
                for fired in found.triggered
            )
            write = customer_write(found, stored)
            if write is not None:
                customer_ops.append(write)
        async with storage_errors("saving journey state"):
            for collection, ops in (
                (self._progress, progress_ops),
                (self._frictions, friction_ops),
                (self._fired, fired_ops),
                (self._customers, customer_ops),
            ):
                if ops:
                    await collection.bulk_write(ops, ordered=False)

    async def _stored(self, customer_ids: Sequence[str]) -> Stored:
        """What ``save`` compares with: a write that changes nothing is left out."""
        ids = list(dict.fromkeys(customer_ids))
        progress: dict[str, dict[str, Document]] = {cid: {} for cid in ids}
        frictions: dict[str, dict[str, Document]] = {cid: {} for cid in ids}
        match = {"customerId": {"$in": ids}}
        async with storage_errors("reading journey state"):
            for collection, found in ((self._progress, progress), (self._frictions, frictions)):
                async for doc in collection.find(match, batch_size=WHOLE_BATCH):
                    found.setdefault(str(doc["customerId"]), {})[str(doc["_id"])] = doc
            cursor = self._customers.find({"_id": {"$in": ids}}, batch_size=WHOLE_BATCH)
            customers = {str(doc["_id"]): doc async for doc in cursor}
        return Stored(progress, frictions, customers)

    async def claim_due(self, now: datetime, lease: float, limit: int) -> list[str]:
        claimed: list[str] = []
        free = {"$or": [{"leaseUntil": {"$exists": False}}, {"leaseUntil": {"$lte": now}}]}
        async with storage_errors("claiming due customers"):
            while len(claimed) < limit:
                doc = await self._customers.find_one_and_update(
                    {"dueAt": {"$lte": now}, **free},
                    {"$set": {"leaseUntil": now + timedelta(seconds=lease)}},
                    sort=[("dueAt", 1)],
                    projection={"_id": 1},
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    break
                claimed.append(str(doc["_id"]))
        return claimed

    async def progresses(self) -> list[Progress]:
        async with storage_errors("reading journey progress"):
            cursor = self._progress.find({}, {"handoffs": 0, "threads": 0}, batch_size=WHOLE_BATCH)
            return [_progress(doc) async for doc in cursor]

    async def stage_p90(self) -> dict[tuple[str, str], timedelta]:
        async with storage_errors("reading stage times"):
            doc = await self._stage_times.find_one({"_id": "p90"})
        rows = (doc or {}).get("stages") or []
        return {(r["journeyId"], r["stage"]): timedelta(seconds=r["seconds"]) for r in rows}

    async def save_stage_p90(self, p90: Mapping[tuple[str, str], timedelta]) -> None:
        rows = [
            {"journeyId": j, "stage": s, "seconds": value.total_seconds()}
            for (j, s), value in sorted(p90.items())
        ]
        async with storage_errors("saving stage times"):
            await self._stage_times.replace_one({"_id": "p90"}, {"stages": rows}, upsert=True)

    async def schedule(self, due: Mapping[str, datetime]) -> None:
        if not due:
            return
        async with storage_errors("scheduling customers"):
            await self._customers.bulk_write(
                [
                    UpdateOne({"_id": c}, {"$min": {"dueAt": at}}, upsert=True)
                    for c, at in due.items()
                ],
                ordered=False,
            )


def _progress(doc: Document) -> Progress:
    journey_id = str(doc["journeyId"])
    visits = tuple(visit_from_document(journey_id, v) for v in doc.get("history") or ())
    return Progress(str(doc["customerId"]), journey_id, int(doc.get("journeyVersion") or 1), visits)
