"""The segment store on MongoDB: ``segments``, ``segment_members``, ``segment_jobs``,
``customer_facts``; it reads the profile's ``customers`` and ``events`` too.

Conditional writes throughout (see :mod:`services.profile.adapters.segment_ports`):
definitions on their version, membership records on their ``seq``, claims on the
lease value read, facts on their event time. Upserts that lose an insert race
(duplicate key) are the conditional write failing, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pymongo import ReturnDocument, UpdateOne

from services.profile.adapters.mongo import CUSTOMERS, EVENTS, escape_key
from services.profile.adapters.mongo_segment_documents import (
    definition_document,
    definition_from_document,
    event_fact,
    facts_from_document,
    job_document,
    job_from_document,
    membership_document,
    membership_from_document,
    outside_from_document,
)
from services.profile.adapters.segment_ports import (
    MemberPage,
    OutsideFacts,
    ScoreFact,
    SegmentJob,
    StageFact,
)
from services.profile.domain.segment_eval import EventFact
from services.profile.domain.segment_membership import (
    Membership,
    MembershipWrite,
    SegmentDefinition,
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

SEGMENTS = "segments"
MEMBERS = "segment_members"
JOBS = "segment_jobs"
FACTS = "customer_facts"
RETIRED = "retired_customers"

INDEXES = (
    Index(MEMBERS, ascending("customerId"), name="members_by_customer"),
    Index(MEMBERS, ascending("segmentId", "member", "customerId"), name="members_by_segment"),
    Index(MEMBERS, ascending("recheckAt"), name="members_by_recheck"),
    Index(JOBS, ascending("segmentId", "createdAt"), name="jobs_by_segment"),
    Index(JOBS, ascending("status", "createdAt"), name="jobs_by_status"),
)


class MongoSegmentStore:
    """The :class:`~services.profile.adapters.segment_ports.SegmentStore` port on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._segments = database[SEGMENTS]
        self._members = database[MEMBERS]
        self._jobs = database[JOBS]
        self._facts = database[FACTS]
        self._retired = database[RETIRED]
        self._customers = database[CUSTOMERS]
        self._events = database[EVENTS]

    async def definitions(self, *, deleted: bool = False) -> list[SegmentDefinition]:
        query: Document = {} if deleted else {"deleted": False}
        async with storage_errors("reading segment definitions"):
            cursor = self._segments.find(query, batch_size=WHOLE_BATCH).sort("_id", 1)
            return [definition_from_document(doc) async for doc in cursor]

    async def definition(self, segment_id: str) -> SegmentDefinition | None:
        async with storage_errors("reading a segment definition"):
            doc = await self._segments.find_one({"_id": segment_id})
        return definition_from_document(doc) if doc is not None else None

    async def put_definition(self, definition: SegmentDefinition) -> bool:
        doc = definition_document(definition)
        async with storage_errors("storing a segment definition"):
            if definition.version == 1:
                try:
                    await self._segments.insert_one(doc)
                except DuplicateKeyError:
                    return False
                return True
            result = await self._segments.update_one(
                {"_id": definition.id, "version": definition.version - 1}, {"$set": doc}
            )
        return result.matched_count == 1

    async def add_job(self, job: SegmentJob) -> None:
        async with storage_errors("storing a segment job"):
            with contextlib.suppress(DuplicateKeyError):  # the same job, stored before
                await self._jobs.insert_one(job_document(job))

    async def latest_job(self, segment_id: str) -> SegmentJob | None:
        async with storage_errors("reading segment jobs"):
            cursor = (
                self._jobs.find({"segmentId": segment_id})
                .sort([("createdAt", -1), ("version", -1)])
                .limit(1)
            )
            found = [job_from_document(doc) async for doc in cursor]
        return found[0] if found else None

    async def claim_job(self, now: datetime, lease: timedelta) -> SegmentJob | None:
        async with storage_errors("claiming a segment job"):
            doc = await self._jobs.find_one_and_update(
                {"status": {"$ne": "done"}, **_unclaimed(now)},
                {
                    "$set": {"status": "running", "claimedUntil": now + lease},
                    "$min": {"startedAt": now},
                },
                sort=[("createdAt", 1), ("_id", 1)],
                return_document=ReturnDocument.AFTER,
            )
        return job_from_document(doc) if doc is not None else None

    async def advance_job(
        self, job: SegmentJob, now: datetime, lease: timedelta
    ) -> SegmentJob | None:
        done = job.status == "done"
        async with storage_errors("advancing a segment job"):
            doc = await self._jobs.find_one_and_update(
                {"_id": job.id, "claimedUntil": job.claimed_until},
                {
                    "$set": {
                        "status": job.status,
                        "processed": job.processed,
                        "cursor": job.cursor,
                        "finishedAt": job.finished_at,
                        "claimedUntil": None if done else now + lease,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        return job_from_document(doc) if doc is not None else None

    async def memberships(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Membership]]:
        found: dict[str, dict[str, Membership]] = {cid: {} for cid in customer_ids}
        if not found:
            return found
        async with storage_errors("reading segment memberships"):
            cursor = self._members.find(
                {"customerId": {"$in": list(found)}}, batch_size=WHOLE_BATCH
            )
            async for doc in cursor:
                record = membership_from_document(doc)
                found[record.customer_id][record.segment_id] = record
        return found

    async def write(self, writes: Sequence[MembershipWrite]) -> list[MembershipWrite]:
        if not writes:
            return []
        async with storage_errors("writing segment memberships"):
            applied = await asyncio.gather(*(self._write(write) for write in writes))
        return [write for write, ok in zip(writes, applied, strict=True) if not ok]

    async def _write(self, write: MembershipWrite) -> bool:
        record = write.record
        update = {"$set": {**membership_document(record), "claimedUntil": None}}
        try:
            result = await self._members.update_one(
                {"_id": record.key, "seq": write.expected_seq},
                update,
                upsert=write.expected_seq == 0,
            )
        except DuplicateKeyError:
            return False  # another evaluator created the record first
        return result.matched_count == 1 or result.upserted_id is not None

    async def unpublished(self, customer_ids: Sequence[str]) -> list[Membership]:
        if not customer_ids:
            return []
        async with storage_errors("reading unpublished segment transitions"):
            cursor = self._members.find(
                {"customerId": {"$in": list(customer_ids)}, "published": False}
            ).sort([("changedAt", 1), ("_id", 1)])
            return [membership_from_document(doc) async for doc in cursor]

    async def mark_published(self, records: Sequence[Membership]) -> None:
        if not records:
            return
        async with storage_errors("marking segment transitions published"):
            await self._members.bulk_write(
                [
                    UpdateOne({"_id": r.key, "seq": r.seq}, {"$set": {"published": True}})
                    for r in records
                ],
                ordered=False,
            )

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[str]:
        async with storage_errors("claiming due segment re-checks"):
            cursor = self._members.find(
                {"recheckAt": {"$lte": now}, **_unclaimed(now)},
                {"customerId": 1, "recheckAt": 1, "claimedUntil": 1},
            ).limit(limit)
            due = [doc async for doc in cursor]
            claimed = await asyncio.gather(*(self._claim(doc, now, lease) for doc in due))
        return list(
            dict.fromkeys(
                str(doc["customerId"]) for doc, ok in zip(due, claimed, strict=True) if ok
            )
        )

    async def _claim(self, doc: Document, now: datetime, lease: timedelta) -> bool:
        result = await self._members.update_one(
            {
                "_id": doc["_id"],
                "recheckAt": doc["recheckAt"],
                "claimedUntil": doc.get("claimedUntil"),
            },
            {"$set": {"claimedUntil": now + lease}},
        )
        return result.modified_count == 1

    async def members(self, segment_id: str, first: int, after: str | None) -> MemberPage:
        query: Document = {"segmentId": segment_id, "member": True}
        if after is not None:
            query["customerId"] = {"$gt": after}
        async with storage_errors("listing segment members"):
            cursor = self._members.find(query).sort("customerId", 1).limit(first + 1)
            found = [membership_from_document(doc) async for doc in cursor]
        return MemberPage(found[:first], has_next=len(found) > first)

    async def size(self, segment_id: str) -> int:
        async with storage_errors("counting segment members"):
            return await self._members.count_documents({"segmentId": segment_id, "member": True})

    async def record_facts(self, facts: Sequence[StageFact | ScoreFact]) -> None:
        async with storage_errors("recording journey and score facts"):
            for fact in facts:
                await self._record(fact)

    async def _record(self, fact: StageFact | ScoreFact) -> None:
        if isinstance(fact, StageFact):
            path, at = f"journeys.{escape_key(fact.journey_id)}", fact.entered_at
            value: Document = {"stage": fact.stage, "at": at, "eventId": fact.event_id}
        else:
            path, at = f"scores.{escape_key(fact.score)}", fact.at
            value = {"value": fact.value, "at": at, "eventId": fact.event_id}
        newer = {
            "$or": [
                {path: {"$exists": False}},
                {f"{path}.at": {"$lt": at}},
                {f"{path}.at": at, f"{path}.eventId": {"$lt": fact.event_id}},
            ]
        }
        for upsert in (True, False):
            try:
                await self._facts.update_one(
                    {"_id": fact.customer_id, **newer}, {"$set": {path: value}}, upsert=upsert
                )
                return
            except DuplicateKeyError:
                continue  # the document exists (created concurrently or holding a newer fact)

    async def outside_facts(self, customer_ids: Sequence[str]) -> dict[str, OutsideFacts]:
        if not customer_ids:
            return {}
        async with storage_errors("reading journey and score facts"):
            cursor = self._facts.find({"_id": {"$in": list(customer_ids)}}, batch_size=WHOLE_BATCH)
            return {str(doc["_id"]): outside_from_document(doc) async for doc in cursor}

    async def recent_events(
        self, customer_ids: Sequence[str], since: datetime | None
    ) -> dict[str, list[EventFact]]:
        found: dict[str, list[EventFact]] = {cid: [] for cid in customer_ids}
        if not found:
            return found
        query: Document = {"customerId": {"$in": list(found)}}
        if since is not None:
            query["timestamp"] = {"$gt": since}
        projection = {
            "customerId": 1,
            "kind": 1,
            "event": 1,
            "channel": 1,
            "timestamp": 1,
            "data.properties": 1,
        }
        async with storage_errors("reading customers' recent events"):
            cursor = self._events.find(query, projection, batch_size=WHOLE_BATCH)
            async for doc in cursor:
                found[str(doc["customerId"])].append(event_fact(doc))
        return found

    async def customer_ids(self, after: str | None, limit: int) -> list[str]:
        query: Document = {} if after is None else {"_id": {"$gt": after}}
        async with storage_errors("listing customer ids"):
            cursor = self._customers.find(query, {"_id": 1}).sort("_id", 1).limit(limit)
            return [str(doc["_id"]) async for doc in cursor]

    async def customer_count(self) -> int:
        async with storage_errors("counting customers"):
            return await self._customers.count_documents({})

    async def retire(self, survivors: Mapping[str, str | None]) -> None:
        if not survivors:
            return
        async with storage_errors("recording merged or erased customers"):
            await self._retired.bulk_write(
                [
                    # An erasure is final (it overrides); a merge is recorded once.
                    UpdateOne({"_id": cid}, {"$set": {"survivor": None}}, upsert=True)
                    if to is None
                    else UpdateOne({"_id": cid}, {"$setOnInsert": {"survivor": to}}, upsert=True)
                    for cid, to in survivors.items()
                ],
                ordered=False,
            )

    async def retired(self, customer_ids: Sequence[str]) -> dict[str, str | None]:
        if not customer_ids:
            return {}
        async with storage_errors("reading merged or erased customers"):
            cursor = self._retired.find({"_id": {"$in": list(customer_ids)}})
            return {str(doc["_id"]): doc.get("survivor") async for doc in cursor}

    async def move_facts(self, from_ids: Sequence[str], to_id: str) -> None:
        if not from_ids:
            return
        async with storage_errors("moving facts of merged customers"):
            cursor = self._facts.find({"_id": {"$in": list(from_ids)}})
            docs = [doc async for doc in cursor]
        moved: list[StageFact | ScoreFact] = []
        for doc in docs:
            moved += facts_from_document(doc, to_id)
        await self.record_facts(moved)
        async with storage_errors("moving facts of merged customers"):
            await self._facts.delete_many({"_id": {"$in": list(from_ids)}})

    async def forget(self, customer_ids: Sequence[str]) -> None:
        if not customer_ids:
            return
        async with storage_errors("deleting segment data of erased customers"):
            await self._members.delete_many({"customerId": {"$in": list(customer_ids)}})
            await self._facts.delete_many({"_id": {"$in": list(customer_ids)}})


def _unclaimed(now: datetime) -> Document:
    return {"$or": [{"claimedUntil": None}, {"claimedUntil": {"$lte": now}}]}
