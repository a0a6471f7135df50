"""In-memory twins of the profile service's ports, for unit tests of handlers and APIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.profile.adapters.ports import (
    ConsentEntry,
    CustomerWrite,
    IdentityConflictError,
    ProfileWrites,
    QuarantinedEvent,
    Status,
    StoredEvent,
)
from services.profile.domain.consent import fold_consents
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.traits import fold_traits


@dataclass
class InMemoryProfileStore:
    """The :class:`ProfileStore` port in dicts (the unit-test twin of the MongoDB adapter)."""

    customer_docs: dict[str, Customer] = field(default_factory=dict)
    identity_docs: dict[Identity, IdentityRecord] = field(default_factory=dict)
    event_docs: dict[str, StoredEvent] = field(default_factory=dict)
    consent_docs: dict[tuple[str, str], ConsentEntry] = field(default_factory=dict)
    saves: int = 0

    async def known(self, identities: Sequence[Identity]) -> dict[Identity, IdentityRecord]:
        return {i: self.identity_docs[i] for i in identities if i in self.identity_docs}

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        return {cid: self.customer_docs[cid] for cid in customer_ids if cid in self.customer_docs}

    async def save(self, writes: ProfileWrites) -> None:
        self.saves += 1
        # All-or-nothing, like the MongoDB adapter: a conflict leaves everything as it was.
        conflicts = [r.identity for r in writes.new_identities if r.identity in self.identity_docs]
        if conflicts:
            raise IdentityConflictError(conflicts)
        for record in writes.new_identities:
            self.identity_docs[record.identity] = record
        for record in writes.sightings:
            existing = self.identity_docs.get(record.identity)
            if existing is not None:
                self.identity_docs[record.identity] = existing.seen(record.first_seen).seen(
                    record.last_seen
                )
        for write in writes.customers:
            self.customer_docs[write.customer.id] = _merged(
                self.customer_docs.get(write.customer.id), write
            )
        for event in writes.events:
            self.event_docs.setdefault(event.id, event)
        for entry in writes.consent_history:
            self.consent_docs.setdefault((entry.statement.event_id, entry.statement.key), entry)

    async def identities(self, customer_id: str) -> list[IdentityRecord]:
        found = [r for r in self.identity_docs.values() if r.customer_id == customer_id]
        return sorted(found, key=lambda record: (record.first_seen, record.identity))

    async def identities_of(self, customer_ids: Sequence[str]) -> dict[str, list[IdentityRecord]]:
        return {cid: await self.identities(cid) for cid in customer_ids}

    async def events(self, customer_id: str) -> list[StoredEvent]:
        found = [e for e in self.event_docs.values() if e.customer_id == customer_id]
        return sorted(found, key=lambda event: (event.timestamp, event.id))

    async def consent_history(self, customer_id: str) -> list[ConsentEntry]:
        found = [e for e in self.consent_docs.values() if e.customer_id == customer_id]
        return sorted(
            found, key=lambda e: (e.statement.updated_at, e.statement.event_id, e.statement.key)
        )


def _merged(stored: Customer | None, write: CustomerWrite) -> Customer:
    # Same semantics as the MongoDB update: traits and consents joined into the stored
    # ones, $min/$max of the sighting times, $addToSet of the channels.
    new = write.customer
    if stored is None:
        return replace(new, traits=dict(write.traits), consents=dict(write.consents))
    first = [t for t in (stored.first_seen, new.first_seen) if t is not None]
    last = [t for t in (stored.last_seen, new.last_seen) if t is not None]
    return Customer(
        id=stored.id,
        traits=fold_traits(stored.traits, write.traits),
        consents=fold_consents(stored.consents, write.consents),
        channels=stored.channels | new.channels,
        first_seen=min(first) if first else None,
        last_seen=max(last) if last else None,
        segments=stored.segments,
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
