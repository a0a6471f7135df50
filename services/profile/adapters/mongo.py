"""The profile store on MongoDB: collections ``customers``, ``identities`` and ``events``.

Every write is keyed by an id (customer id, ``type:value`` of an identity,
ingest event id) and idempotent: customers are upserts, identities and events
inserts whose duplicates are recognised, so replaying a batch converges on the
same state. A batch costs three unordered bulk writes, whatever its size.
Inserts where possible: on the same server they cost a third of an upsert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from services.profile.adapters.ports import (
    CustomerWrite,
    IdentityConflictError,
    ProfileWrites,
    StoredEvent,
)
from services.profile.domain.customer import Customer, SegmentMembership
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.traits import ConsentState, TraitValue
from shared.errors import StorageError
from shared.mongo import (
    WHOLE_BATCH,
    AsyncDatabase,
    Document,
    Index,
    ascending,
    only_duplicates,
    storage_errors,
)

CUSTOMERS = "customers"
IDENTITIES = "identities"
EVENTS = "events"
DUPLICATE_KEY = 11000

# No unique (type, value) index on identities: their ``_id`` is ``type:value`` already,
# and every index costs each insert more than the document itself does.
INDEXES = (
    Index(IDENTITIES, ascending("customerId"), name="identities_by_customer"),
    Index(EVENTS, ascending("customerId", "timestamp"), name="events_by_customer"),
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
            return {str(doc["_id"]): customer_from_document(doc) async for doc in cursor}

    async def save(self, writes: ProfileWrites) -> None:
        # Identities first: if one was claimed by another customer meanwhile, nothing else of
        # the batch is written and the retry resolves against the new owner.
        if writes.new_identities or writes.sightings:
            await self._save_identities(writes.new_identities, writes.sightings)
        async with storage_errors("saving customers and events"):
            await asyncio.gather(
                self._save_customers(writes.customers), self._save_events(writes.events)
            )

    async def _save_identities(
        self, new: Sequence[IdentityRecord], sightings: Sequence[IdentityRecord]
    ) -> None:
        operations: list[InsertOne[Document] | UpdateOne] = [
            InsertOne(identity_document(record)) for record in new
        ]
        operations.extend(
            UpdateOne(
                {"_id": record.identity.key, "customerId": record.customer_id},
                {"$min": {"firstSeen": record.first_seen}, "$max": {"lastSeen": record.last_seen}},
            )
            for record in sightings
        )
        try:
            await self._identities.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if errors and all(error.get("code") == DUPLICATE_KEY for error in errors):
                # Only the inserts can collide: another consumer attached the identity first.
                taken = [new[error["index"]].identity for error in errors]
                raise IdentityConflictError(taken) from exc
            # Not ``exc.details``: it quotes every failed document, personal data included.
            codes = sorted({str(error.get("code")) for error in errors})
            raise StorageError(
                f"saving identities failed: {len(errors)} write error(s), codes {codes}"
            ) from exc
        except PyMongoError as exc:
            raise StorageError(f"saving identities failed: {exc}") from exc

    async def _save_customers(self, writes: Sequence[CustomerWrite]) -> None:
        if writes:
            await self._customers.bulk_write(
                [customer_update(write) for write in writes], ordered=False
            )

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
        found: dict[str, list[IdentityRecord]] = {cid: [] for cid in customer_ids}
        if not found:
            return found
        async with storage_errors("reading customers' identities"):
            cursor = self._identities.find(
                {"customerId": {"$in": list(found)}}, batch_size=WHOLE_BATCH
            )
            async for doc in cursor:
                record = identity_from_document(doc)
                found[record.customer_id].append(record)
        for records in found.values():
            records.sort(key=lambda record: (record.first_seen, record.identity))
        return found

    async def events(self, customer_id: str) -> list[StoredEvent]:
        async with storage_errors("reading a customer's events"):
            cursor = self._events.find({"customerId": customer_id}).sort(
                [("timestamp", 1), ("_id", 1)]
            )
            return [event_from_document(doc) async for doc in cursor]


def customer_update(write: CustomerWrite) -> UpdateOne:
    customer = write.customer
    update: dict[str, Any] = {
        "$addToSet": {"channels": {"$each": sorted(customer.channels)}},
        "$setOnInsert": {"createdAt": customer.first_seen},
    }
    sets: dict[str, Any] = {}
    for name, trait in write.traits.items():
        sets[f"traits.{escape_key(name)}"] = {
            "value": trait.value,
            "source": trait.source,
            "channel": trait.channel,
            "updatedAt": trait.updated_at,
        }
    for purpose, consent in write.consents.items():
        sets[f"consents.{escape_key(purpose)}"] = {
            "granted": consent.granted,
            "updatedAt": consent.updated_at,
            "source": consent.source,
        }
    if sets:
        update["$set"] = sets
    if customer.first_seen is not None:
        update["$min"] = {"firstSeen": customer.first_seen}
    if customer.last_seen is not None:
        update["$max"] = {"lastSeen": customer.last_seen}
    return UpdateOne({"_id": customer.id}, update, upsert=True)


def customer_from_document(doc: Mapping[str, Any]) -> Customer:
    traits = {
        unescape_key(name): TraitValue(
            value=entry.get("value"),
            source=str(entry.get("source", "")),
            channel=str(entry.get("channel", "")),
            updated_at=entry["updatedAt"],
        )
        for name, entry in (doc.get("traits") or {}).items()
    }
    consents = {
        unescape_key(purpose): ConsentState(
            purpose=unescape_key(purpose),
            granted=bool(entry.get("granted")),
            updated_at=entry["updatedAt"],
            source=str(entry.get("source", "")),
        )
        for purpose, entry in (doc.get("consents") or {}).items()
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
    )
