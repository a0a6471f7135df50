"""Quarantine: collected events that failed validation, kept with their reason for replay.

Nothing the collection API accepted past authentication is dropped: an event
that fails normalization is stored here (its raw payload as sent, the errors,
the receive time) and can be listed and replayed once the cause is fixed.
Collection ``quarantine`` in the profile database (``threadline_profile``).

Entry ids are derived from the source and the message id, so a client that
retries a rejected batch does not quarantine its events twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from pymongo import UpdateOne

from shared.mongo import AsyncDatabase, Document, Index, ascending, storage_errors

COLLECTION = "quarantine"
INDEXES = (Index(COLLECTION, ascending("status", "receivedAt"), name="status_received"),)

Status = Literal["pending", "replayed"]


@dataclass(frozen=True, slots=True)
class QuarantinedEvent:
    """One rejected event.

    ``payload`` is the message exactly as it was sent (JSON text, so any key or
    number survives storage); ``batch`` holds the batch-level ``sentAt`` and
    ``context`` it arrived with, also as JSON text; ``kind`` is the endpoint's
    type for single calls and ``None`` for batch items (their ``type`` decides).
    """

    id: str
    source: str
    payload: str
    errors: dict[str, str]
    received_at: datetime
    kind: str | None = None
    batch: str | None = None
    status: Status = "pending"
    attempts: int = 0
    replayed_at: datetime | None = None

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "source": self.source,
            "payload": self.payload,
            # A list, not a dict: field paths contain dots, which make poor MongoDB keys.
            "errors": [{"field": f, "reason": r} for f, r in self.errors.items()],
            "receivedAt": self.received_at,
            "kind": self.kind,
            "batch": self.batch,
            "status": self.status,
            "attempts": self.attempts,
            "replayedAt": self.replayed_at,
        }

    @classmethod
    def from_document(cls, doc: Document) -> QuarantinedEvent:
        return cls(
            id=str(doc["_id"]),
            source=str(doc["source"]),
            payload=str(doc["payload"]),
            errors={str(e["field"]): str(e["reason"]) for e in doc.get("errors", [])},
            received_at=_utc(doc["receivedAt"]),
            kind=doc.get("kind"),
            batch=doc.get("batch"),
            status=doc.get("status", "pending"),
            attempts=int(doc.get("attempts", 0)),
            replayed_at=_utc(doc["replayedAt"]) if doc.get("replayedAt") else None,
        )


class Quarantine(Protocol):
    """The port the collector uses; :class:`MongoQuarantine` and :class:`InMemoryQuarantine`."""

    async def add(self, entries: Sequence[QuarantinedEvent]) -> None:
        """Store entries; an id already stored keeps its first copy."""

    async def browse(
        self, limit: int = 100, status: Status | None = "pending"
    ) -> list[QuarantinedEvent]:
        """Entries oldest first (all statuses when ``status`` is None)."""

    async def get(self, ids: Sequence[str]) -> list[QuarantinedEvent]: ...

    async def mark_replayed(self, ids: Sequence[str], at: datetime) -> None: ...

    async def record_failure(self, entry_id: str, errors: dict[str, str]) -> None:
        """A replay failed again: keep the new errors and count the attempt."""


class MongoQuarantine:
    """The quarantine in MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database[COLLECTION]

    async def add(self, entries: Sequence[QuarantinedEvent]) -> None:
        if not entries:
            return
        operations = [
            UpdateOne({"_id": e.id}, {"$setOnInsert": e.to_document()}, upsert=True)
            for e in entries
        ]
        async with storage_errors("quarantining rejected events"):
            await self._collection.bulk_write(operations, ordered=False)

    async def browse(
        self, limit: int = 100, status: Status | None = "pending"
    ) -> list[QuarantinedEvent]:
        query: Document = {} if status is None else {"status": status}
        async with storage_errors("listing quarantined events"):
            cursor = self._collection.find(query).sort([("receivedAt", 1), ("_id", 1)])
            docs = await cursor.limit(limit).to_list(None)
        return [QuarantinedEvent.from_document(doc) for doc in docs]

    async def get(self, ids: Sequence[str]) -> list[QuarantinedEvent]:
        async with storage_errors("reading quarantined events"):
            docs = await self._collection.find({"_id": {"$in": list(ids)}}).to_list(None)
        return [QuarantinedEvent.from_document(doc) for doc in docs]

    async def mark_replayed(self, ids: Sequence[str], at: datetime) -> None:
        if not ids:
            return
        async with storage_errors("marking quarantined events replayed"):
            await self._collection.update_many(
                {"_id": {"$in": list(ids)}},
                {"$set": {"status": "replayed", "replayedAt": at}, "$inc": {"attempts": 1}},
            )

    async def record_failure(self, entry_id: str, errors: dict[str, str]) -> None:
        listed = [{"field": f, "reason": r} for f, r in errors.items()]
        async with storage_errors("recording a failed replay"):
            await self._collection.update_one(
                {"_id": entry_id}, {"$set": {"errors": listed}, "$inc": {"attempts": 1}}
            )


class InMemoryQuarantine:
    """The quarantine in a dict, for unit tests of the collector."""

    def __init__(self) -> None:
        self.entries: dict[str, QuarantinedEvent] = {}

    async def add(self, entries: Sequence[QuarantinedEvent]) -> None:
        for entry in entries:
            self.entries.setdefault(entry.id, entry)

    async def browse(
        self, limit: int = 100, status: Status | None = "pending"
    ) -> list[QuarantinedEvent]:
        chosen = [e for e in self.entries.values() if status is None or e.status == status]
        chosen.sort(key=lambda e: (e.received_at, e.id))
        return chosen[:limit]

    async def get(self, ids: Sequence[str]) -> list[QuarantinedEvent]:
        return [self.entries[i] for i in ids if i in self.entries]

    async def mark_replayed(self, ids: Sequence[str], at: datetime) -> None:
        for entry_id in ids:
            entry = self.entries[entry_id]
            self.entries[entry_id] = replace(
                entry, status="replayed", replayed_at=at, attempts=entry.attempts + 1
            )

    async def record_failure(self, entry_id: str, errors: dict[str, str]) -> None:
        entry = self.entries[entry_id]
        self.entries[entry_id] = replace(entry, errors=dict(errors), attempts=entry.attempts + 1)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
