"""The privacy store on MongoDB: collections ``privacy_blocks``, ``privacy_jobs`` and
``pii_audit``, and erasure/anonymization over the profile's own collections.

``privacy_blocks`` holds one document per identifier hash (``_id``): ``state`` is
``suppressed`` (with the ``customerId`` it was suppressed for) or ``erased`` (a
tombstone, with the ``jobId`` that erased it and no customer id). A job's export
report is kept as JSON text: trait names may hold dots and dollars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from pymongo import DESCENDING, UpdateOne

from services.profile.adapters.mongo import CUSTOMERS, EVENTS, IDENTITIES, escape_key
from services.profile.adapters.mongo_quarantine import COLLECTION as QUARANTINE
from services.profile.adapters.privacy_ports import ProfilePart
from services.profile.domain.privacy import (
    AuditPosition,
    Block,
    PiiRead,
    PrivacyJob,
    job_kind,
    mentions,
)
from shared.mongo import (
    WHOLE_BATCH,
    AsyncDatabase,
    Document,
    DuplicateKeyError,
    Index,
    ascending,
    storage_errors,
)
from shared.pii_audit import audit_document

BLOCKS = "privacy_blocks"
JOBS = "privacy_jobs"
AUDIT = "pii_audit"

INDEXES = (
    Index(BLOCKS, ascending("customerId"), name="blocks_by_customer"),
    Index(JOBS, (("customerId", 1), ("createdAt", DESCENDING)), name="jobs_by_customer"),
    Index(JOBS, (("createdAt", DESCENDING),), name="jobs_by_time"),
    Index(AUDIT, (("at", DESCENDING), ("_id", DESCENDING)), name="audit_by_time"),
)
_PARTS: Mapping[ProfilePart, tuple[str, str]] = {
    "events": (EVENTS, "customerId"),
    "identities": (IDENTITIES, "customerId"),
    "customers": (CUSTOMERS, "_id"),
}


class MongoPrivacyStore:
    """The :class:`~services.profile.adapters.privacy_ports.PrivacyStore` port on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._db = database
        self._blocks = database[BLOCKS]
        self._jobs = database[JOBS]
        self._audit = database[AUDIT]

    async def blocks(self, hashes: Sequence[str]) -> dict[str, Block]:
        if not hashes:
            return {}
        async with storage_errors("looking up suppressed and erased identifiers"):
            cursor = self._blocks.find({"_id": {"$in": list(set(hashes))}}, {"state": 1})
            return {str(doc["_id"]): _block(doc["state"]) async for doc in cursor}

    async def suppress(self, customer_id: str, hashes: Sequence[str], at: datetime) -> None:
        if not hashes:
            return
        async with storage_errors("suppressing identifiers"):
            await self._blocks.bulk_write(
                [
                    # A tombstoned identifier stays tombstoned: only absent ones are inserted.
                    UpdateOne(
                        {"_id": h},
                        {"$setOnInsert": _suppression(customer_id, at)},
                        upsert=True,
                    )
                    for h in hashes
                ],
                ordered=False,
            )

    async def unsuppress(self, customer_id: str) -> None:
        async with storage_errors("lifting a suppression"):
            await self._blocks.delete_many({"customerId": customer_id, "state": "suppressed"})

    async def tombstone(self, hashes: Sequence[str], job_id: str, at: datetime) -> None:
        if not hashes:
            return
        async with storage_errors("tombstoning identifiers"):
            await self._blocks.bulk_write(
                [
                    UpdateOne(
                        {"_id": h},
                        {
                            "$set": {"state": "erased", "jobId": job_id, "at": at},
                            "$unset": {"customerId": ""},
                        },
                        upsert=True,
                    )
                    for h in hashes
                ],
                ordered=False,
            )

    async def add_job(self, job: PrivacyJob) -> None:
        async with storage_errors("recording a privacy job"):
            try:
                await self._jobs.insert_one(job_document(job))
            except DuplicateKeyError:
                return  # recorded before: a request retried

    async def save_job(self, job: PrivacyJob) -> None:
        async with storage_errors("saving a privacy job's progress"):
            await self._jobs.replace_one({"_id": job.id}, job_document(job), upsert=True)

    async def job(self, job_id: str) -> PrivacyJob | None:
        async with storage_errors("reading a privacy job"):
            doc = await self._jobs.find_one({"_id": job_id})
        return job_from_document(doc) if doc is not None else None

    async def jobs(self, customer_id: str | None, limit: int) -> list[PrivacyJob]:
        query = {} if customer_id is None else {"customerId": customer_id}
        async with storage_errors("listing privacy jobs"):
            cursor = self._jobs.find(query).sort([("createdAt", -1), ("_id", -1)]).limit(limit)
            return [job_from_document(doc) async for doc in cursor]

    async def erase(self, part: ProfilePart, customer_ids: Sequence[str]) -> int:
        collection, key = _PARTS[part]
        async with storage_errors(f"erasing customers' {part}"):
            result = await self._db[collection].delete_many({key: {"$in": list(customer_ids)}})
        return result.deleted_count

    async def erase_quarantined(self, values: Sequence[str]) -> int:
        if not values:
            return 0
        patterns = [{"payload": {"$regex": p, "$options": "i"}} for p in mentions(values)]
        async with storage_errors("erasing quarantined events"):
            result = await self._db[QUARANTINE].delete_many({"$or": patterns})
        return result.deleted_count

    async def forget_reports(self, customer_ids: Sequence[str]) -> None:
        async with storage_errors("forgetting export reports"):
            await self._jobs.update_many(
                {"customerId": {"$in": list(customer_ids)}, "report": {"$ne": None}},
                {"$set": {"report": None}},
            )

    async def rewrite_events(
        self, customer_id: str, rewrite: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> int:
        events = self._db[EVENTS]
        async with storage_errors("anonymizing a customer's events"):
            cursor = events.find({"customerId": customer_id}, {"data": 1}, batch_size=WHOLE_BATCH)
            updates = [
                UpdateOne(
                    {"_id": doc["_id"]},
                    {
                        "$set": {"data": rewrite(doc.get("data") or {})},
                        "$unset": {"identities": ""},
                    },
                )
                async for doc in cursor
            ]
            if updates:
                await events.bulk_write(updates, ordered=False)
        return len(updates)

    async def remove_traits(self, customer_id: str, names: Sequence[str]) -> None:
        if not names:
            return
        async with storage_errors("removing a customer's traits"):
            await self._db[CUSTOMERS].update_one(
                {"_id": customer_id},
                {"$unset": {f"traits.{escape_key(name)}": "" for name in names}},
            )

    async def record_read(self, entry: PiiRead) -> None:
        async with storage_errors("writing the PII audit log"):
            await self._audit.insert_one(audit_document(entry))

    async def reads(self, limit: int, after: AuditPosition | None) -> list[PiiRead]:
        query: Document = {}
        if after is not None:
            query = {
                "$or": [
                    {"at": {"$lt": after.at}},
                    {"at": after.at, "_id": {"$lt": after.id}},
                ]
            }
        async with storage_errors("reading the PII audit log"):
            cursor = self._audit.find(query).sort([("at", -1), ("_id", -1)]).limit(limit)
            return [
                PiiRead(
                    id=str(doc["_id"]),
                    at=doc["at"],
                    principal=str(doc["principal"]),
                    customer_ids=tuple(doc.get("customerIds") or ()),
                    fields=tuple(doc.get("fields") or ()),
                    request_id=doc.get("requestId"),
                )
                async for doc in cursor
            ]


def _suppression(customer_id: str, at: datetime) -> Document:
    return {"state": "suppressed", "customerId": customer_id, "at": at}


def _block(state: Any) -> Block:
    return "erased" if state == "erased" else "suppressed"


def job_document(job: PrivacyJob) -> Document:
    return {
        "_id": job.id,
        "kind": job.kind,
        "customerId": job.customer_id,
        "requestedBy": job.requested_by,
        "createdAt": job.created_at,
        "status": job.status,
        "stepsDone": list(job.steps_done),
        "finishedAt": job.finished_at,
        "error": job.error,
        "hashes": list(job.hashes),
        "erasedIds": list(job.erased_ids),
        "report": orjson.dumps(job.report).decode() if job.report is not None else None,
    }


def job_from_document(doc: Mapping[str, Any]) -> PrivacyJob:
    report = doc.get("report")
    return PrivacyJob(
        id=str(doc["_id"]),
        kind=job_kind(str(doc["kind"])),
        customer_id=str(doc["customerId"]),
        requested_by=str(doc.get("requestedBy", "")),
        created_at=doc["createdAt"],
        status=doc.get("status", "pending"),
        steps_done=tuple(doc.get("stepsDone") or ()),
        finished_at=doc.get("finishedAt"),
        error=doc.get("error"),
        hashes=tuple(doc.get("hashes") or ()),
        erased_ids=tuple(doc.get("erasedIds") or ()),
        report=orjson.loads(report) if isinstance(report, str) else None,
    )
