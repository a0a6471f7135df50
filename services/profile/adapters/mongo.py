"""The profile store on MongoDB: collections ``customers``, ``identities`` and ``events``.

Merges, splits and the merge log are :mod:`~services.profile.adapters.mongo_merge`'s.

Every write is keyed by an id (customer id, ``type:value`` of an identity,
ingest event id) and idempotent: customers are upserts, identities and events
inserts whose duplicates are recognised, so replaying a batch converges on the
same state. A batch costs three bulk writes in parallel (sightings, customers,
events), whatever its size, after the claims of its new identities (see
:meth:`MongoProfileStore._claim`). Inserts where possible: on the same server
they cost a third of an upsert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import DeleteOne, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from services.profile.adapters import mongo_merge
from services.profile.adapters.mongo_merge import MergeFence
from services.profile.adapters.mongo_slots import SlotClaims
from services.profile.adapters.mongo_traits import (
    StateWriter,
    consent_from_document,
    history_document,
    history_from_document,
    trait_from_document,
)
from services.profile.adapters.ports import (
    ConsentEntry,
    CustomerWrite,
    IdentityConflictError,
    MergeConflictError,
    ProfileWrites,
    StoredEvent,
)
from services.profile.domain.customer import Customer, SegmentMembership
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.identity_slots import IdentitySlot
from services.profile.domain.merging import MergeLogEntry, MergePlan
from services.profile.domain.resolution import OwnerProfile
from shared.errors import StorageError
from shared.events import derived_id
from shared.mongo import (
    WHOLE_BATCH,
    AsyncDatabase,
    Document,
    Index,
    ascending,
    by_customer,
    only_duplicates,
    storage_errors,
)

CUSTOMERS = "customers"
IDENTITIES = "identities"
EVENTS = "events"
CONSENT_HISTORY = "consent_history"
DUPLICATE_KEY = 11000

# No unique (type, value) index on identities: their ``_id`` is ``type:value`` already,
# and every index costs each insert more than the document itself does.
INDEXES = (
    Index(IDENTITIES, ascending("customerId"), name="identities_by_customer"),
    Index(EVENTS, ascending("customerId", "timestamp"), name="events_by_customer"),
    Index(CONSENT_HISTORY, ascending("customerId", "t"), name="consent_history_by_customer"),
    *mongo_merge.INDEXES,
)


def escape_key(name: str) -> str:
    """A trait or purpose name usable as a MongoDB field name (no dots, no leading ``$``)."""
    escaped = name.replace("%", "%25").replace(".", "%2E")
    return "%24" + escaped[1:] if escaped.startswith("$") else escaped


def unescape_key(name: str) -> str:
    return name.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


class MongoProfileStore:
    """The :class:`~services.profile.adapters.store.ProfileStore` port on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._customers = database[CUSTOMERS]
        self._identities = database[IDENTITIES]
        self._events = database[EVENTS]
        self._consent_history = database[CONSENT_HISTORY]
        self._states = StateWriter(self._customers, escape_key, self._unmerged, customer_changes)
        self._fence = MergeFence(database, customer_from_document, self._save_customers)
        self._slots = SlotClaims(database)

    async def known(self, identities: Sequence[Identity]) -> dict[Identity, IdentityRecord]:
        if not identities:
            return {}
        keys = [identity.key for identity in identities]
        async with storage_errors("looking up identities"):
            cursor = self._identities.find({"_id": {"$in": keys}})
            records = [identity_from_document(doc) async for doc in cursor]
        return {record.identity: record for record in records}

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        if not customer_ids:
            return {}
        async with storage_errors("loading customers"):
            cursor = self._customers.find(
                {"_id": {"$in": list(set(customer_ids))}}, batch_size=WHOLE_BATCH
            )
            docs = {str(doc["_id"]): doc async for doc in cursor}
        roots = await self._fence.roots(docs)
        return {cid: customer_from_document(doc) for cid, doc in roots.items()}

    async def save(self, writes: ProfileWrites) -> None:
        # Claims first: if another consumer claimed one of the identities meanwhile, nothing
        # of the batch stays written and the retry resolves against the new owner.
        if writes.new_identities:
            first_seen = {
                write.customer.id: write.customer.first_seen for write in writes.customers
            }
            shells = [{"_id": cid, "createdAt": first_seen.get(cid)} for cid in writes.created]
            await self._claim(writes.new_identities, shells, writes.slots)
        # Customers first: their upserts are fenced (a merged customer takes no write), so
        # a batch decided before a merge fails here and is decided again.
        await self._save_customers(writes.customers)
        async with storage_errors("saving sightings, events and the merge log"):
            await asyncio.gather(
                self._save_sightings(writes.sightings),
                self._save_events(writes.events),
                self._save_consent_history(writes.consent_history),
                self.record(writes.log),
            )
        # A merge marked after the fenced upserts but before these writes landed has moved
        # the customer's identities and events already: move what came after it, too.
        written = [write.customer.id for write in writes.customers]
        written += [record.customer_id for record in writes.new_identities]
        await self.settle(written)

    async def settle(self, customer_ids: Sequence[str]) -> None:
        if not customer_ids:
            return
        async with storage_errors("checking for merges during a save"):
            cursor = self._customers.find(
                {"_id": {"$in": list(set(customer_ids))}, "mergedInto": {"$exists": True}},
                {"_id": 1},
            )
            merged = [str(doc["_id"]) async for doc in cursor]
        for customer_id in merged:
            await self._fence.complete(customer_id)

    async def _claim(
        self,
        new: Sequence[IdentityRecord],
        created: Sequence[Document],
        slots: Sequence[IdentitySlot] = (),
    ) -> None:
        """Claim ``new`` all-or-nothing, without multi-document transactions.

        SecantusDB has multi-document transactions, but a MongoDB server outside a
        replica set has not, and the deployment may point at any MongoDB (DESIGN.md
        §2). Instead: the documents of created customers are inserted first,
        so no claimed identity ever points at a missing customer; the identities
        are inserted ordered, strongest first and then by key, so concurrent
        claimers collide on the first identity they share and the insert stops
        there; on a collision, what this call inserted is deleted again.

        Then the limit ``slots`` of the claimed identities (one more insert, only for
        limited types): a slot another batch holds means the limit was decided on a
        stale count, and the identities are released like any other conflict.
        """
        shells = await self._insert_shells(created)
        ordered = sorted(new, key=lambda record: (record.identity.rank, record.identity.key))
        try:
            await self._identities.insert_many(
                [identity_document(record) for record in ordered], ordered=True
            )
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if len(errors) != 1 or errors[0].get("code") != DUPLICATE_KEY:
                # Not ``exc.details``: it quotes every failed document, personal data included.
                codes = sorted({str(error.get("code")) for error in errors})
                raise StorageError(
                    f"claiming identities failed: {len(errors)} write error(s), codes {codes}"
                ) from exc
            failed = int(errors[0]["index"])
            await self._release(ordered[:failed], shells)
            raise IdentityConflictError([ordered[failed].identity]) from exc
        except PyMongoError as exc:
            # Whatever was claimed points at an existing customer document; the retry of
            # the batch resolves to the same derived customer ids and completes it.
            raise StorageError(f"claiming identities failed: {exc}") from exc
        if slots:
            try:
                await self._slots.claim(slots)
            except (IdentityConflictError, StorageError):
                # Also on an unknown outcome: the retry claims the same slots again (a slot
                # that did land is its own holder's, and passes), so no identity stays
                # linked without its slot.
                await self._release(ordered, shells)
                raise

    async def _insert_shells(self, created: Sequence[Document]) -> list[str]:
        """Insert the documents of created customers; the ids this call inserted."""
        if not created:
            return []
        try:
            await self._customers.insert_many(list(created), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not all(error.get("code") == DUPLICATE_KEY for error in errors):
                codes = sorted({str(error.get("code")) for error in errors})
                raise StorageError(f"creating customers failed: write error codes {codes}") from exc
            # Already there: a batch replayed after a crash. Not ours to delete on a conflict.
            existing = {int(error["index"]) for error in errors}
            return [str(doc["_id"]) for index, doc in enumerate(created) if index not in existing]
        except PyMongoError as exc:
            raise StorageError(f"creating customers failed: {exc}") from exc
        return [str(doc["_id"]) for doc in created]

    async def _release(self, claimed: Sequence[IdentityRecord], shells: Sequence[str]) -> None:
        async with storage_errors("releasing the identities of a conflicting batch"):
            if claimed:
                await self._identities.bulk_write(
                    [
                        DeleteOne({"_id": record.identity.key, "customerId": record.customer_id})
                        for record in claimed
                    ],
                    ordered=False,
                )
            if shells:
                # A consumer that saw one of our claims before this release may have written
                # the customer since (it then has a ``lastSeen``): that customer stays.
                await self._customers.delete_many(
                    {"_id": {"$in": list(shells)}, "lastSeen": {"$exists": False}}
                )

    async def _save_sightings(self, sightings: Sequence[IdentityRecord]) -> None:
        if sightings:
            await self._identities.bulk_write(
                [
                    UpdateOne(
                        {"_id": record.identity.key, "customerId": record.customer_id},
                        {
                            "$min": {"firstSeen": record.first_seen},
                            "$max": {"lastSeen": record.last_seen},
                        },
                    )
                    for record in sightings
                ],
                ordered=False,
            )

    async def _save_customers(self, writes: Sequence[CustomerWrite]) -> None:
        if not writes:
            return
        try:
            await self._states.save(writes)
        except BulkWriteError as exc:
            if not only_duplicates(exc):
                raise StorageError("saving customers failed") from exc
            # The fence: a customer merged into another takes no write (its upsert, filtered
            # on not merged, collides with its own document); the batch is decided again.
            raise MergeConflictError(
                "a customer of the batch was merged meanwhile; decide the batch again"
            ) from exc
        except PyMongoError as exc:
            raise StorageError(f"saving customers failed: {exc}") from exc

    async def _unmerged(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        """The customers as stored, for compare-and-set; one merged away is a conflict."""
        async with storage_errors("reading customers to join their traits"):
            cursor = self._customers.find({"_id": {"$in": list(set(customer_ids))}})
            docs = [doc async for doc in cursor]
        if any(doc.get("mergedInto") for doc in docs):
            raise MergeConflictError(
                "a customer of the batch was merged meanwhile; decide the batch again"
            )
        return {str(doc["_id"]): customer_from_document(doc) for doc in docs}

    async def _save_consent_history(self, entries: Sequence[ConsentEntry]) -> None:
        if not entries:
            return
        documents = [
            history_document(e, derived_id("consent", e.statement.event_id, e.statement.key))
            for e in entries
        ]
        try:
            await self._consent_history.bulk_write(
                [InsertOne(doc) for doc in documents], ordered=False
            )
        except BulkWriteError as exc:
            if not only_duplicates(exc):  # a statement stored before: the same statement
                raise

    async def _save_events(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        try:
            await self._events.bulk_write(
                [InsertOne({"_id": e.id, **event_document(e)}) for e in events], ordered=False
            )
        except BulkWriteError as exc:
            # An event stored before (a batch replayed after a crash) is already what we
            # would store: its id derives from the message, its content from the id.
            if not only_duplicates(exc):
                raise

    async def identities(self, customer_id: str) -> list[IdentityRecord]:
        async with storage_errors("reading a customer's identities"):
            cursor = self._identities.find({"customerId": customer_id})
            records = [identity_from_document(doc) async for doc in cursor]
        return sorted(records, key=lambda record: (record.first_seen, record.identity))

    async def identities_of(self, customer_ids: Sequence[str]) -> dict[str, list[IdentityRecord]]:
        found = await by_customer(
            self._identities, customer_ids, identity_from_document, "reading customers' identities"
        )
        for records in found.values():
            records.sort(key=lambda record: (record.first_seen, record.identity))
        return found

    async def events(self, customer_id: str) -> list[StoredEvent]:
        async with storage_errors("reading a customer's events"):
            cursor = self._events.find({"customerId": customer_id}).sort(
                [("timestamp", 1), ("_id", 1)]
            )
            return [event_from_document(doc) async for doc in cursor]

    async def consent_history(self, customer_id: str) -> list[ConsentEntry]:
        async with storage_errors("reading a customer's consent history"):
            cursor = self._consent_history.find({"customerId": customer_id})
            entries = [history_from_document(doc) async for doc in cursor]
        return sorted(
            entries, key=lambda e: (e.statement.updated_at, e.statement.event_id, e.statement.key)
        )

    async def owner_profiles(self, customer_ids: Sequence[str]) -> dict[str, OwnerProfile]:
        if not customer_ids:
            return {}
        identities = await self.identities_of(customer_ids)
        async with storage_errors("reading customers' merges"):
            cursor = self._customers.find(
                {"_id": {"$in": list(set(customer_ids))}},
                {"mergedIds": 1, "firstSeen": 1, "createdAt": 1, "apart": 1},
            )
            docs = {str(doc["_id"]): doc async for doc in cursor}
        return {
            cid: OwnerProfile(
                customer_id=cid,
                identities={r.identity: r.first_seen for r in identities.get(cid, [])},
                merges=len(docs.get(cid, {}).get("mergedIds") or ()),
                apart=frozenset(str(a) for a in docs.get(cid, {}).get("apart") or ()),
                first_seen=docs.get(cid, {}).get("firstSeen") or docs.get(cid, {}).get("createdAt"),
            )
            for cid in customer_ids
        }

    async def merge(self, plan: MergePlan) -> None:
        await self._fence.merge(plan)

    async def unannounced(self, caused_by: Sequence[str]) -> list[MergePlan]:
        return await self._fence.unannounced(caused_by)

    async def announced(self, log_ids: Sequence[str]) -> None:
        await self._fence.announced(log_ids)

    async def record(self, entries: Sequence[MergeLogEntry]) -> None:
        await self._fence.record(entries)

    async def merged_ids(self, customer_id: str) -> list[str]:
        async with storage_errors("reading the customers merged into one"):
            doc = await self._customers.find_one({"_id": customer_id}, {"mergedIds": 1})
        return sorted(str(m) for m in (doc or {}).get("mergedIds") or ())

    async def merge_log(self, customer_id: str, limit: int = 100) -> list[MergeLogEntry]:
        return await self._fence.merge_log(customer_id, limit)

    async def split(
        self,
        original: str,
        new: Customer,
        identities: Sequence[Identity],
        event_ids: Sequence[str],
    ) -> None:
        await self._fence.split(original, new, identities, event_ids)


def customer_changes(customer: Customer) -> Document:
    """The commutative part of a customer's update: sightings and channels (traits and
    consents are joined under compare-and-set by ``mongo_traits.StateWriter``)."""
    update: Document = {
        "$addToSet": {"channels": {"$each": sorted(customer.channels)}},
        "$setOnInsert": {"createdAt": customer.first_seen},
    }
    if customer.first_seen is not None:
        update["$min"] = {"firstSeen": customer.first_seen}
    if customer.last_seen is not None:
        update["$max"] = {"lastSeen": customer.last_seen}
    return update


def customer_from_document(doc: Mapping[str, Any]) -> Customer:
    traits = {
        unescape_key(name): trait_from_document(entry)
        for name, entry in (doc.get("traits") or {}).items()
    }
    consents = {
        unescape_key(key): consent_from_document(unescape_key(key), entry)
        for key, entry in (doc.get("consents") or {}).items()
    }
    return Customer(
        id=str(doc["_id"]),
        traits=traits,
        consents=consents,
        channels=frozenset(doc.get("channels") or ()),
        first_seen=doc.get("firstSeen"),
        last_seen=doc.get("lastSeen"),
        segments=tuple(
            SegmentMembership(str(s["segmentId"]), str(s.get("name", "")), s["enteredAt"])
            for s in doc.get("segments") or ()
        ),
        revision=doc.get("rev"),
    )


def identity_document(record: IdentityRecord) -> Document:
    return {
        "_id": record.identity.key,
        "type": record.identity.type,
        "value": record.identity.value,
        "customerId": record.customer_id,
        "firstSeen": record.first_seen,
        "lastSeen": record.last_seen,
        "source": record.source,
    }


def identity_from_document(doc: Mapping[str, Any]) -> IdentityRecord:
    return IdentityRecord(
        identity=Identity(str(doc["type"]), str(doc["value"])),
        customer_id=str(doc["customerId"]),
        first_seen=doc["firstSeen"],
        last_seen=doc["lastSeen"],
        source=str(doc.get("source", "")),
    )


def event_document(event: StoredEvent) -> Document:
    return {
        "customerId": event.customer_id,
        "kind": event.kind,
        "event": event.data.get("event"),
        "channel": event.channel,
        "timestamp": event.timestamp,
        "data": dict(event.data),
        "identities": [identity.key for identity in event.identities],
    }


def event_from_document(doc: Mapping[str, Any]) -> StoredEvent:
    timestamp: datetime = doc["timestamp"]
    return StoredEvent(
        id=str(doc["_id"]),
        customer_id=str(doc["customerId"]),
        kind=str(doc["kind"]),
        timestamp=timestamp,
        channel=str(doc["channel"]),
        data=dict(doc.get("data") or {}),
        identities=tuple(_identity_of_key(key) for key in doc.get("identities") or ()),
    )


def _identity_of_key(key: str) -> Identity:
    kind, _, value = str(key).partition(":")
    return Identity(kind, value)
