"""The profile store port: customers, identities and stored events.

One port for the three because the handler writes them together, once per batch:
:meth:`ProfileStore.save` takes every write a batch caused so the MongoDB adapter
can send them as a few bulk writes. :class:`InMemoryProfileStore`
(``adapters/in_memory.py``) is its twin for unit tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from services.profile.domain import ProfileError
from services.profile.domain.consent import ConsentState
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.identity_slots import IdentitySlot
from services.profile.domain.merging import MergeLogEntry, MergePlan
from services.profile.domain.pii import mask_identity
from services.profile.domain.resolution import OwnerProfile
from services.profile.domain.traits import TraitState


class IdentityConflictError(ProfileError):
    """An identity the batch meant to attach is owned by another customer by now.

    Another consumer claimed it concurrently. The save claimed nothing (claims
    are all-or-nothing), so deciding the batch again against the current owners
    is safe. The message (logged by the worker, kept with a parked message) names
    the identities with their personal data masked.
    """

    def __init__(self, identities: Sequence[Identity]) -> None:
        self.identities = tuple(identities)
        shown = [f"{i.type}:{mask_identity(i.type, i.value)}" for i in self.identities]
        super().__init__(
            f"identities {shown} belong to another customer now; "
            "retry the batch to resolve against the current owners"
        )


class MergeConflictError(ProfileError):
    """A customer a write or a merge meant is merged into another one by now.

    Either an ordinary save met a customer fenced off by a merge (its upsert
    filter excludes merged customers), or a merge found one of its customers
    merged elsewhere or locked by another merge. Deciding the batch again
    follows the merge pointers to the surviving customers.
    """


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An ingested event as the profile keeps it, resolved to its customer."""

    id: str
    customer_id: str
    kind: str
    timestamp: datetime
    channel: str
    data: Mapping[str, Any]
    identities: tuple[Identity, ...] = ()
    """The identifiers the event carried, canonical: a split moves the history that
    belonged to identifiers, and ``data`` is kept without PII traits (privacy)."""


@dataclass(frozen=True, slots=True)
class CustomerWrite:
    """A customer's new state and the traits and consents that changed in this batch.

    The store joins ``traits`` and ``consents`` into what is stored
    (:func:`~services.profile.domain.traits.fold`,
    :func:`~services.profile.domain.consent.fold_consents`), so a writer that read an
    older state never undoes what another wrote meanwhile.
    """

    customer: Customer
    traits: Mapping[str, TraitState]
    consents: Mapping[str, ConsentState]


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One consent statement in a customer's history (every statement is kept)."""

    customer_id: str
    statement: ConsentState


@dataclass(frozen=True, slots=True)
class ProfileWrites:
    """Everything one batch writes; each part is idempotent (keyed by ids).

    ``new_identities`` are claimed (an identity someone else claimed first is a
    conflict); ``created`` names the customers the batch creates, whose documents
    exist before any identity points at them; ``sightings`` widen the
    first/last-seen range of stored identities. ``slots`` are claimed with the new
    identities, all-or-nothing with them: a slot another holder has is a conflict
    (:mod:`services.profile.domain.identity_slots`).
    """

    new_identities: tuple[IdentityRecord, ...] = ()
    created: tuple[str, ...] = ()
    sightings: tuple[IdentityRecord, ...] = ()
    customers: tuple[CustomerWrite, ...] = ()
    events: tuple[StoredEvent, ...] = ()
    consent_history: tuple[ConsentEntry, ...] = ()
    log: tuple[MergeLogEntry, ...] = ()
    slots: tuple[IdentitySlot, ...] = ()


class ProfileStore(Protocol):
    async def known(self, identities: Sequence[Identity]) -> dict[Identity, IdentityRecord]:
        """The stored record (owner, first/last seen) of each of ``identities`` that is known."""

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        """The customers among ``customer_ids`` that exist, each id mapped to its root.

        A customer merged into another one answers the survivor (the ``id`` of the
        returned customer is the survivor's), following merge pointers to the end;
        a merge met half done (its worker died) is completed on the way.
        """

    async def save(self, writes: ProfileWrites) -> None:
        """Claim the new identities all-or-nothing, then write customers and events.

        Concurrent saves (several shard consumers) may claim the same identity;
        one wins. The others raise :class:`IdentityConflictError` having written
        nothing that outlives the call: what they claimed before the conflict is
        released. Every claimed identity points at an existing customer document,
        also while the save is under way.
        """

    async def identities(self, customer_id: str) -> list[IdentityRecord]:
        """The identities of a customer, oldest first."""

    async def identities_of(self, customer_ids: Sequence[str]) -> dict[str, list[IdentityRecord]]:
        """The identities of each of ``customer_ids``, oldest first, in one read.

        Every id requested is a key (an unknown customer has no identities).
        """

    async def events(self, customer_id: str) -> list[StoredEvent]:
        """The stored events of a customer, oldest first."""

    async def consent_history(self, customer_id: str) -> list[ConsentEntry]:
        """Every consent statement about a customer, oldest first (by event time, event id)."""

    async def owner_profiles(self, customer_ids: Sequence[str]) -> dict[str, OwnerProfile]:
        """What resolution needs of each (root) customer: identifiers, merges, first seen."""

    async def merge(self, plan: MergePlan) -> None:
        """Fold ``plan.merged`` into ``plan.survivor``: atomic in effect, idempotent.

        Raises :class:`MergeConflictError` when a customer of the plan is merged
        elsewhere by now or stays locked by another merge (decide again). A merge
        interrupted by a crash is completed by whoever reads a merged customer next.
        """

    async def unannounced(self, caused_by: Sequence[str]) -> list[MergePlan]:
        """Merges caused by these events (or operators) whose ``customer.merged`` is not
        confirmed published: the worker died between the merge and the publish."""

    async def announced(self, log_ids: Sequence[str]) -> None:
        """Note that the ``customer.merged`` of these merges is confirmed published."""

    async def settle(self, customer_ids: Sequence[str]) -> None:
        """Complete again the merges of these merged-away customers: move identities and
        events that still name them (claims that raced the merge) to their survivors."""

    async def record(self, entries: Sequence[MergeLogEntry]) -> None:
        """Add merge-log entries; an entry recorded before (same id) is kept as it was."""

    async def merged_ids(self, customer_id: str) -> list[str]:
        """Every customer ever merged into this one (directly or through others)."""

    async def merge_log(self, customer_id: str, limit: int = 100) -> list[MergeLogEntry]:
        """The merge log of a customer and of every customer merged into it, newest first."""

    async def split(
        self,
        original: str,
        new: Customer,
        identities: Sequence[Identity],
        event_ids: Sequence[str],
    ) -> None:
        """Move ``identities`` and the events ``event_ids`` of ``original`` to the new
        customer ``new`` (created with its state); idempotent."""


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

    def to_document(self) -> dict[str, Any]:
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
    def from_document(cls, doc: Mapping[str, Any]) -> QuarantinedEvent:
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


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
