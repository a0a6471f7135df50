"""The profile store port, and its in-memory twin for unit tests.

One port for customers, identities and stored events because the handler
writes them together, once per batch: :meth:`ProfileStore.save` takes every
write a batch caused so the MongoDB adapter can send them as a few bulk writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from services.profile.domain import ProfileError
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.traits import ConsentState, TraitValue


class IdentityConflictError(ProfileError):
    """An identity the batch meant to attach is owned by another customer by now.

    Another consumer claimed it concurrently; retrying the batch resolves the
    event against the new owner.
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


@dataclass(frozen=True, slots=True)
class CustomerWrite:
    """A customer's new state and the traits and consents that changed in this batch."""

    customer: Customer
    traits: Mapping[str, TraitValue]
    consents: Mapping[str, ConsentState]


@dataclass(frozen=True, slots=True)
class ProfileWrites:
    """Everything one batch writes; each part is idempotent (keyed by ids).

    ``new_identities`` are inserted (an identity someone else inserted first is a
    conflict); ``sightings`` widen the first/last-seen range of stored ones.
    """

    new_identities: tuple[IdentityRecord, ...] = ()
    sightings: tuple[IdentityRecord, ...] = ()
    customers: tuple[CustomerWrite, ...] = ()
    events: tuple[StoredEvent, ...] = ()


class ProfileStore(Protocol):
    async def known(self, identities: Sequence[Identity]) -> dict[Identity, IdentityRecord]:
        """The stored record (owner, first/last seen) of each of ``identities`` that is known."""

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        """The customers among ``customer_ids`` that exist."""

    async def save(self, writes: ProfileWrites) -> None:
        """Write identities first, then customers and events.

        Raises :class:`IdentityConflictError` when a new identity exists
        already (another consumer attached it meanwhile).
        """

    async def identities(self, customer_id: str) -> list[IdentityRecord]:
        """The identities of a customer, oldest first."""

    async def events(self, customer_id: str) -> list[StoredEvent]:
        """The stored events of a customer, oldest first."""


@dataclass
class InMemoryProfileStore:
    """The :class:`ProfileStore` port in dicts (the unit-test twin of the MongoDB adapter)."""

    customer_docs: dict[str, Customer] = field(default_factory=dict)
    identity_docs: dict[Identity, IdentityRecord] = field(default_factory=dict)
    event_docs: dict[str, StoredEvent] = field(default_factory=dict)
    saves: int = 0

    async def known(self, identities: Sequence[Identity]) -> dict[Identity, IdentityRecord]:
        return {i: self.identity_docs[i] for i in identities if i in self.identity_docs}

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        return {cid: self.customer_docs[cid] for cid in customer_ids if cid in self.customer_docs}

    async def save(self, writes: ProfileWrites) -> None:
        self.saves += 1
        conflicts = [r.identity for r in writes.new_identities if r.identity in self.identity_docs]
        for record in writes.new_identities:
            self.identity_docs.setdefault(record.identity, record)
        for record in writes.sightings:
            existing = self.identity_docs.get(record.identity)
            if existing is not None:
                self.identity_docs[record.identity] = existing.seen(record.first_seen).seen(
                    record.last_seen
                )
        if conflicts:
            raise IdentityConflictError(
                f"identities {[i.key for i in conflicts]} belong to another customer now; "
                "retry the batch to resolve against the current owners"
            )
        for write in writes.customers:
            self.customer_docs[write.customer.id] = _merged(
                self.customer_docs.get(write.customer.id), write
            )
        for event in writes.events:
            self.event_docs.setdefault(event.id, event)

    async def identities(self, customer_id: str) -> list[IdentityRecord]:
        found = [r for r in self.identity_docs.values() if r.customer_id == customer_id]
        return sorted(found, key=lambda record: (record.first_seen, record.identity))

    async def events(self, customer_id: str) -> list[StoredEvent]:
        found = [e for e in self.event_docs.values() if e.customer_id == customer_id]
        return sorted(found, key=lambda event: (event.timestamp, event.id))


def _merged(stored: Customer | None, write: CustomerWrite) -> Customer:
    # Same semantics as the MongoDB update: $set of the changed paths, $min/$max of the
    # sighting times, $addToSet of the channels.
    new = write.customer
    if stored is None:
        return replace(
            new,
            traits=dict(write.traits),
            consents=dict(write.consents),
        )
    first = [t for t in (stored.first_seen, new.first_seen) if t is not None]
    last = [t for t in (stored.last_seen, new.last_seen) if t is not None]
    return Customer(
        id=stored.id,
        traits={**stored.traits, **write.traits},
        consents={**stored.consents, **write.consents},
        channels=stored.channels | new.channels,
        first_seen=min(first) if first else None,
        last_seen=max(last) if last else None,
        segments=stored.segments,
    )
