"""Merging customers on MongoDB without multi-document transactions: the fence.

Also the ``merge_log`` collection (merges, links, refused links, splits) and splits.

The deployment may be a standalone MongoDB (no transactions), so a merge is a
sequence of single-document writes made safe by three rules:

1. **Locks, taken in id order.** A merge first takes a lease
   (``mergeLock: {id, until}``) on every customer it involves, in sorted id
   order, waiting a little for each (ordered locking cannot deadlock; a lease
   left by a crashed worker expires after ``LEASE``). Holding them, it checks
   that none of them is merged already; otherwise it lets go and raises
   :class:`MergeConflictError` (the caller decides again). Two merges never
   work on one customer at once, so merge pointers never form a cycle.
2. **The mark is the commit point.** Each loser gets
   ``mergedInto: survivor`` by a conditional update
   (``{_id, mergedInto: {$exists: false}, mergeLock.id: mine}``). Ordinary
   saves upsert customers with the filter ``{_id, mergedInto: {$exists:
   false}}``: once a loser is marked, a save to it fails with a duplicate key
   (:class:`MergeConflictError`) and its batch is decided again, following the
   pointer. So every trait write to a loser landed before the mark.
3. **Completion after the mark is idempotent and rolled forward by anyone.**
   :meth:`MergeFence.complete` reads the marked loser (all its writes are in),
   folds its traits, consents, channels and first/last seen into the root of
   the survivor (latest event time wins; ``mergedIds`` united), moves its
   identities and stored events (``update_many`` of ``customerId``), then sets
   ``mergeDone``. Any reader that meets a marked customer without ``mergeDone``
   completes it first, so a worker killed between the steps loses nothing.
   Claims and events written by a save that raced the mark are caught by the
   save's own check afterwards (see ``MongoProfileStore.save``), which
   completes the loser again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from services.profile.adapters.mongo_slots import SlotClaims
from services.profile.adapters.ports import (
    CustomerWrite,
    IdentityConflictError,
    MergeConflictError,
)
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity
from services.profile.domain.merging import MergeLogEntry, MergePlan, fold
from shared.errors import StorageError
from shared.mongo import AsyncDatabase, Document, Index, ascending, only_duplicates, storage_errors

MERGE_LOG = "merge_log"
LEASE = timedelta(seconds=15)
LOCK_WAIT_SECONDS = 5.0
LOCK_FIRST_PAUSE = 0.01
LOCK_MAX_PAUSE = 0.2
MAX_CHAIN = 64
UNMERGED = {"mergedInto": {"$exists": False}}

INDEXES = (
    Index(MERGE_LOG, ascending("customerId", "at"), name="merge_log_by_customer"),
    # Only merges whose customer.merged is not confirmed yet: a handful, whatever the log's size.
    Index(MERGE_LOG, ascending("causedBy"), name="merge_log_unannounced",
          partial={"status": "merged"}),
)  # fmt: skip

ReadCustomer = Callable[[Mapping[str, Any]], Customer]
SaveCustomers = Callable[[Sequence[CustomerWrite]], Awaitable[None]]
"""The profile store's fenced, compare-and-set customer save (raises MergeConflictError)."""


def entry_document(entry: MergeLogEntry, status: str = "done") -> Document:
    return {
        "_id": entry.id,
        "customerId": entry.customer_id,
        "kind": entry.kind,
        "reason": entry.reason,
        "causedBy": entry.caused_by,
        "at": entry.at,
        "identities": [{"type": i.type, "value": i.value} for i in entry.identities],
        "others": list(entry.others),
        "status": status,
    }


def entry_from_document(doc: Mapping[str, Any]) -> MergeLogEntry:
    return MergeLogEntry(
        id=str(doc["_id"]),
        customer_id=str(doc["customerId"]),
        kind=doc["kind"],
        reason=str(doc.get("reason", "")),
        caused_by=str(doc.get("causedBy", "")),
        at=doc["at"],
        identities=tuple(Identity(str(i["type"]), str(i["value"])) for i in doc["identities"]),
        others=tuple(str(o) for o in doc.get("others") or ()),
    )


class MergeFence:
    """Merges, their roll-forward and pointer-following on the profile's collections.

    ``read``/``write`` are the customer document codec of
    :mod:`services.profile.adapters.mongo` (passed in to keep one codec).
    """

    def __init__(
        self, database: AsyncDatabase[Document], read: ReadCustomer, save: SaveCustomers
    ) -> None:
        self._customers = database["customers"]
        self._identities = database["identities"]
        self._events = database["events"]
        self._consent_history = database["consent_history"]
        self._log = database[MERGE_LOG]
        self._read = read
        self._save = save
        self._slots = SlotClaims(database)

    async def roots(self, docs: Mapping[str, Document]) -> dict[str, Document]:
        """Each requested id's root document, given the documents of those ids.

        Completes every half-done merge it meets (marked, not ``mergeDone``).
        """
        found = dict(docs)
        for _ in range(MAX_CHAIN):
            merged = {cid: doc for cid, doc in found.items() if doc.get("mergedInto")}
            if not merged:
                return found
            for doc in merged.values():
                if not doc.get("mergeDone"):
                    await self.complete(str(doc["_id"]))
            targets = list({str(doc["mergedInto"]) for doc in merged.values()})
            async with storage_errors("following merged customers"):
                cursor = self._customers.find({"_id": {"$in": targets}})
                by_id = {str(doc["_id"]): doc async for doc in cursor}
            for cid, doc in merged.items():
                target = by_id.get(str(doc["mergedInto"]))
                if target is None:
                    del found[cid]
                else:
                    found[cid] = target
        raise MergeConflictError(f"merge pointers of {sorted(found)} form a chain too long")

    async def root_id(self, customer_id: str) -> str | None:
        async with storage_errors("reading a customer"):
            doc = await self._customers.find_one({"_id": customer_id})
        if doc is None:
            return None
        roots = await self.roots({customer_id: doc})
        root = roots.get(customer_id)
        return None if root is None else str(root["_id"])

    async def merge(self, plan: MergePlan) -> None:
        involved = sorted({plan.survivor, *plan.merged})
        async with storage_errors("recording a merge"):
            # The same merge again (a replay) finds its entry: every step is idempotent.
            with contextlib.suppress(DuplicateKeyError):
                await self._log.insert_one(entry_document(plan.entry(), status="pending"))
        locked: list[str] = []
        try:
            for customer_id in involved:
                await self._lock(customer_id, plan.log_id)
                locked.append(customer_id)
            await self._check_unmerged(plan, involved)
            await self._claim_slots(plan)
            await self._mark_all(plan)
            for loser in plan.merged:
                await self.complete(loser)
        finally:
            await self._unlock(locked, plan.log_id)
        async with storage_errors("closing a merge"):
            # "merged" until ``customer.merged`` is confirmed published (see ``unannounced``).
            await self._log.update_one(
                {"_id": plan.log_id, "status": "pending"}, {"$set": {"status": "merged"}}
            )

    async def unannounced(self, caused_by: Sequence[str]) -> list[MergePlan]:
        if not caused_by:
            return []
        async with storage_errors("reading unannounced merges"):
            cursor = self._log.find({"causedBy": {"$in": list(caused_by)}, "status": "merged"})
            entries = [entry_from_document(doc) async for doc in cursor]
        return [
            MergePlan(e.customer_id, e.others, e.caused_by, e.reason, e.at, e.identities)
            for e in entries
        ]

    async def announced(self, log_ids: Sequence[str]) -> None:
        if log_ids:
            async with storage_errors("closing announced merges"):
                await self._log.update_many(
                    {"_id": {"$in": list(log_ids)}, "status": "merged"},
                    {"$set": {"status": "done"}},
                )

    async def _lock(self, customer_id: str, owner: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_SECONDS
        pause = LOCK_FIRST_PAUSE
        while True:
            now = datetime.now(UTC)
            async with storage_errors("locking a customer for a merge"):
                result = await self._customers.update_one(
                    {
                        "_id": customer_id,
                        "$or": [
                            {"mergeLock": {"$exists": False}},
                            {"mergeLock.id": owner},
                            {"mergeLock.until": {"$lt": now}},
                        ],
                    },
                    {"$set": {"mergeLock": {"id": owner, "until": now + LEASE}}},
                )
            if result.matched_count:
                return
            if loop.time() > deadline:
                raise MergeConflictError(
                    f"customer {customer_id} stays locked by another merge (or does not "
                    "exist); decide the batch again"
                )
            # Backing off with jitter: many waiters polling a held lock every 10 ms cost
            # the database more than the merge they wait for.
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(pause * 2, LOCK_MAX_PAUSE)

    async def _unlock(self, customer_ids: Sequence[str], owner: str) -> None:
        if customer_ids:
            async with storage_errors("unlocking customers after a merge"):
                await self._customers.update_many(
                    {"_id": {"$in": list(customer_ids)}, "mergeLock.id": owner},
                    {"$unset": {"mergeLock": ""}},
                )

    async def _check_unmerged(self, plan: MergePlan, involved: Sequence[str]) -> None:
        async with storage_errors("checking the customers of a merge"):
            cursor = self._customers.find({"_id": {"$in": list(involved)}})
            docs = {str(doc["_id"]): doc async for doc in cursor}
        if str(docs[plan.survivor].get("mergedInto") or "") != "":
            raise MergeConflictError(
                f"survivor {plan.survivor} was merged meanwhile; decide the batch again"
            )
        for loser in plan.merged:
            into = docs[loser].get("mergedInto")
            if into is not None and into != plan.survivor:
                raise MergeConflictError(
                    f"customer {loser} was merged into {into} meanwhile; decide the batch again"
                )

    async def _claim_slots(self, plan: MergePlan) -> None:
        """The plan's limit slots: one another batch holds means a limit was decided on a
        stale count (a concurrent link), so the merge is decided again."""
        try:
            await self._slots.claim(plan.slots)
        except IdentityConflictError as exc:
            raise MergeConflictError(
                "a link to a customer of the merge took a limited place meanwhile; "
                "decide the batch again"
            ) from exc

    async def _mark_all(self, plan: MergePlan) -> None:
        for index, loser in enumerate(plan.merged):
            try:
                await self._mark(loser, plan)
            except MergeConflictError:
                if index == 0:  # nothing committed: the slots were claimed for nothing
                    await self._slots.release(plan.slots)
                raise

    async def _mark(self, loser: str, plan: MergePlan) -> None:
        async with storage_errors("marking a merged customer"):
            result = await self._customers.update_one(
                {"_id": loser, **UNMERGED, "mergeLock.id": plan.log_id},
                {"$set": {"mergedInto": plan.survivor, "mergeLog": plan.log_id}},
            )
            if result.matched_count:
                return
            doc = await self._customers.find_one({"_id": loser}, {"mergedInto": 1})
        if doc is None or doc.get("mergedInto") != plan.survivor:
            raise MergeConflictError(
                f"customer {loser} could not be marked as merged (merged elsewhere, or the "
                "merge's lock expired); decide the batch again"
            )

    async def complete(self, loser: str) -> None:
        """Fold a marked customer into its root and move what it owns; idempotent."""
        async with storage_errors("reading a merged customer"):
            doc = await self._customers.find_one({"_id": loser})
        if doc is None or not doc.get("mergedInto"):
            return
        merged = self._read(doc)
        # The survivor takes over who was merged into the loser, and whom it was split from.
        inherited = {
            "mergedIds": {"$each": [loser, *[str(m) for m in doc.get("mergedIds") or ()]]},
            "apart": {"$each": [str(a) for a in doc.get("apart") or ()]},
        }
        target = str(doc["mergedInto"])
        for _ in range(MAX_CHAIN):
            root = await self._fold_into(target, merged, inherited)
            if root is None:
                return
            async with storage_errors("moving a merged customer's identities and events"):
                await self._identities.update_many(
                    {"customerId": loser}, {"$set": {"customerId": root}}
                )
                await self._events.update_many(
                    {"customerId": loser}, {"$set": {"customerId": root}}
                )
                await self._consent_history.update_many(
                    {"customerId": loser}, {"$set": {"customerId": root}}
                )
                again = await self._customers.find_one({"_id": root}, {"mergedInto": 1})
            if again is None or not again.get("mergedInto"):
                break
            target = str(again["mergedInto"])  # the root was merged meanwhile: follow it
        async with storage_errors("closing a merged customer"):
            await self._customers.update_one({"_id": loser}, {"$set": {"mergeDone": True}})

    async def _fold_into(
        self, target: str, merged: Customer, inherited: Mapping[str, Any]
    ) -> str | None:
        """Fold ``merged`` into the root of ``target``; the root's id (None: it is gone)."""
        for _ in range(MAX_CHAIN):
            async with storage_errors("reading a surviving customer"):
                doc = await self._customers.find_one({"_id": target})
            if doc is None:
                return None
            if doc.get("mergedInto"):
                target = str(doc["mergedInto"])
                continue
            survivor = self._read(doc)
            folded = fold(survivor, merged)
            write = CustomerWrite(
                customer=folded,
                traits={n: t for n, t in folded.traits.items() if survivor.traits.get(n) != t},
                consents={
                    p: c for p, c in folded.consents.items() if survivor.consents.get(p) != c
                },
            )
            try:
                # Traits and consents are joined under compare-and-set with whatever landed
                # since the read; a survivor merged meanwhile is a conflict: follow it.
                await self._save([write])
            except MergeConflictError:
                continue
            async with storage_errors("recording what a survivor inherits"):
                inherited_by = await self._customers.update_one(
                    {"_id": target, **UNMERGED}, {"$addToSet": dict(inherited)}
                )
            if inherited_by.matched_count == 0:
                continue  # merged between the two writes: the fold is repeated on its root
            return target
        raise MergeConflictError(f"merge pointers from {target} form a chain too long")

    async def record(self, entries: Sequence[MergeLogEntry]) -> None:
        if not entries:
            return
        try:
            await self._log.insert_many([entry_document(e) for e in entries], ordered=False)
        except BulkWriteError as exc:
            if not only_duplicates(exc):
                raise StorageError("recording the merge log failed") from exc
        except PyMongoError as exc:
            raise StorageError(f"recording the merge log failed: {exc}") from exc

    async def merge_log(self, customer_id: str, limit: int = 100) -> list[MergeLogEntry]:
        async with storage_errors("reading a merge log"):
            doc = await self._customers.find_one({"_id": customer_id}, {"mergedIds": 1})
            ids = [customer_id, *[str(m) for m in (doc or {}).get("mergedIds") or ()]]
            cursor = (
                self._log.find({"customerId": {"$in": ids}}).sort([("at", -1), ("_id", 1)])
            ).limit(limit)
            return [entry_from_document(d) async for d in cursor]

    async def split(
        self,
        original: str,
        new: Customer,
        identities: Sequence[Identity],
        event_ids: Sequence[str],
    ) -> None:
        async with storage_errors("splitting a customer"):
            await self._save([CustomerWrite(new, new.traits, new.consents)])
            await self._events.update_many(
                {"_id": {"$in": list(event_ids)}, "customerId": original},
                {"$set": {"customerId": new.id}},
            )
            # Resolution never merges the two again by itself (an operator may).
            for one, other in ((original, new.id), (new.id, original)):
                await self._customers.update_one({"_id": one}, {"$addToSet": {"apart": other}})
            # Identities last: until they move, a repeated split finds the same work to do.
            await self._identities.update_many(
                {"_id": {"$in": [i.key for i in identities]}, "customerId": original},
                {"$set": {"customerId": new.id}},
            )
        # Its places were counted with the identifiers that left: count them afresh.
        await self._slots.forget(original)
