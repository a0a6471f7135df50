"""In-memory twins of the profile service's ports, for unit tests of handlers and APIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.profile.adapters.ports import (
    ConsentEntry,
    CustomerWrite,
    IdentityConflictError,
    MergeConflictError,
    ProfileWrites,
    QuarantinedEvent,
    Status,
    StoredEvent,
)
from services.profile.domain.consent import fold_consents
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.merging import MergeLogEntry, MergePlan, fold
from services.profile.domain.resolution import OwnerProfile
from services.profile.domain.traits import fold_traits


@dataclass
class InMemoryProfileStore:
    """The :class:`ProfileStore` port in dicts (the unit-test twin of the MongoDB adapter)."""

    customer_docs: dict[str, Customer] = field(default_factory=dict)
    identity_docs: dict[Identity, IdentityRecord] = field(default_factory=dict)
    event_docs: dict[str, StoredEvent] = field(default_factory=dict)
    consent_docs: dict[tuple[str, str], ConsentEntry] = field(default_factory=dict)
    merged_into: dict[str, str] = field(default_factory=dict)
    merged_sets: dict[str, set[str]] = field(default_factory=dict)
    log_docs: dict[str, MergeLogEntry] = field(default_factory=dict)
    unannounced_plans: dict[str, MergePlan] = field(default_factory=dict)
    apart: dict[str, set[str]] = field(default_factory=dict)
    slot_holders: dict[str, str] = field(default_factory=dict)
    """Limit slots by key, each with its holder (kept apart from identities, as in MongoDB)."""
    saves: int = 0

    def root(self, customer_id: str) -> str:
        while customer_id in self.merged_into:
            customer_id = self.merged_into[customer_id]
        return customer_id

    async def known(self, identities: Sequence[Identity]) -> dict[Identity, IdentityRecord]:
        return {i: self.identity_docs[i] for i in identities if i in self.identity_docs}

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        roots = {cid: self.root(cid) for cid in customer_ids}
        return {cid: self.customer_docs[r] for cid, r in roots.items() if r in self.customer_docs}

    def _conflicts(self, writes: ProfileWrites) -> list[Identity]:
        """Identities claimed by others, and those whose limit slot another holder has."""
        taken = [r.identity for r in writes.new_identities if r.identity in self.identity_docs]
        lost = [s for s in writes.slots if self.slot_holders.get(s.key, s.holder) != s.holder]
        return taken + [s.identity for s in lost if s.identity is not None]

    def _claim(self, writes: ProfileWrites) -> None:
        for record in writes.new_identities:
            self.identity_docs[record.identity] = record
        self.slot_holders.update((slot.key, slot.holder) for slot in writes.slots)

    async def save(self, writes: ProfileWrites) -> None:
        self.saves += 1
        # All-or-nothing, like the MongoDB adapter: a conflict leaves everything as it was.
        conflicts = self._conflicts(writes)
        if conflicts:
            raise IdentityConflictError(conflicts)
        if any(write.customer.id in self.merged_into for write in writes.customers):
            raise MergeConflictError("a customer of the batch was merged meanwhile")
        for entry in writes.log:
            self.log_docs.setdefault(entry.id, entry)
        self._claim(writes)
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
        for said in writes.consent_history:
            self.consent_docs.setdefault((said.statement.event_id, said.statement.key), said)

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

    async def owner_profiles(self, customer_ids: Sequence[str]) -> dict[str, OwnerProfile]:
        return {
            cid: OwnerProfile(
                customer_id=cid,
                identities={r.identity: r.first_seen for r in await self.identities(cid)},
                merges=len(self.merged_sets.get(cid, ())),
                apart=frozenset(self.apart.get(cid, ())),
                first_seen=self.customer_docs[cid].first_seen
                if cid in self.customer_docs
                else None,
            )
            for cid in customer_ids
        }

    async def merge(self, plan: MergePlan) -> None:
        if plan.survivor in self.merged_into or any(
            self.merged_into.get(loser, plan.survivor) != plan.survivor for loser in plan.merged
        ):
            raise MergeConflictError(f"a customer of merge {plan.log_id} was merged elsewhere")
        if plan.log_id not in self.log_docs:
            self.log_docs[plan.log_id] = plan.entry()
            self.unannounced_plans[plan.log_id] = plan
        for loser in plan.merged:
            if loser in self.merged_into:
                continue  # the same merge again
            self.merged_into[loser] = plan.survivor
            survivor = self.customer_docs[plan.survivor]
            self.customer_docs[plan.survivor] = fold(survivor, self.customer_docs[loser])
            ids = self.merged_sets.setdefault(plan.survivor, set())
            ids |= {loser, *self.merged_sets.get(loser, ())}
            self.apart.setdefault(plan.survivor, set()).update(self.apart.get(loser, ()))
            self._move(loser, plan.survivor)

    def _move(self, loser: str, survivor: str, only: set[str] | None = None) -> None:
        for identity, record in list(self.identity_docs.items()):
            if record.customer_id == loser and (only is None or identity.key in only):
                self.identity_docs[identity] = replace(record, customer_id=survivor)
        for event_id, event in list(self.event_docs.items()):
            if event.customer_id == loser and (only is None or event_id in only):
                self.event_docs[event_id] = replace(event, customer_id=survivor)

    async def unannounced(self, caused_by: Sequence[str]) -> list[MergePlan]:
        causes = set(caused_by)
        return [p for p in self.unannounced_plans.values() if p.caused_by in causes]

    async def announced(self, log_ids: Sequence[str]) -> None:
        for log_id in log_ids:
            self.unannounced_plans.pop(log_id, None)

    async def settle(self, customer_ids: Sequence[str]) -> None:
        for customer_id in customer_ids:
            if customer_id in self.merged_into:
                self._move(customer_id, self.root(customer_id))

    async def record(self, entries: Sequence[MergeLogEntry]) -> None:
        for entry in entries:
            self.log_docs.setdefault(entry.id, entry)

    async def merged_ids(self, customer_id: str) -> list[str]:
        return sorted(self.merged_sets.get(customer_id, ()))

    async def merge_log(self, customer_id: str, limit: int = 100) -> list[MergeLogEntry]:
        ids = {customer_id, *self.merged_sets.get(customer_id, ())}
        found = [e for e in self.log_docs.values() if e.customer_id in ids]
        return sorted(found, key=lambda e: (-e.at.timestamp(), e.id))[:limit]

    async def split(
        self,
        original: str,
        new: Customer,
        identities: Sequence[Identity],
        event_ids: Sequence[str],
    ) -> None:
        self.customer_docs[new.id] = new
        self.apart.setdefault(original, set()).add(new.id)
        self.apart.setdefault(new.id, set()).add(original)
        self._move(original, new.id, {i.key for i in identities} | set(event_ids))


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
