"""Profile handlers: resolve ingested events to customers, store them, publish what happened.

``handle_ingested`` works a whole batch at once: one lookup of every identity
and customer the batch mentions, the decisions event by event in memory (so a
later event of the batch sees the customer an earlier one created), one save,
one confirmed publish.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.profile.adapters.ports import (
    ConsentEntry,
    CustomerWrite,
    IdentityConflictError,
    ProfileStore,
    ProfileWrites,
    StoredEvent,
)
from services.profile.consent_handlers import consent_changed_events
from services.profile.domain.consent import ConsentState, consent_summary
from services.profile.domain.customer import Customer, IngestedEvent, ProfileChange, apply_event
from services.profile.domain.identity import (
    CustomerCreated,
    Identity,
    IdentityRecord,
    MergeDeferred,
    resolve,
)
from services.profile.domain.traits import DEFAULT_RULES, TraitRules, TraitState
from services.profile.screening import PrivacyGate, stored_writes
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id

log = logging.getLogger("threadline.profile")

SOURCE = "threadline/profile"
RESOLVED_PREFIX = "io.threadline.customer.event."
CUSTOMER_CREATED = "io.threadline.customer.created"
CUSTOMER_UPDATED = "io.threadline.customer.updated"
CLAIM_ATTEMPTS = 8
CLAIM_BACKOFF_SECONDS = 0.005
CustomersChanged = Callable[[Sequence[str]], Awaitable[None]]
"""Told the customers a saved batch touched (segments re-evaluate them)."""


@dataclass
class _Batch:
    """What the batch changes, coalesced per customer and per identity."""

    owners: dict[Identity, str]
    records: dict[Identity, IdentityRecord]
    customers: dict[str, Customer]
    loaded: dict[str, Customer] = field(default_factory=dict)
    new_identities: dict[Identity, IdentityRecord] = field(default_factory=dict)
    sightings: dict[Identity, IdentityRecord] = field(default_factory=dict)
    traits: dict[str, dict[str, TraitState]] = field(default_factory=dict)
    consents: dict[str, dict[str, ConsentState]] = field(default_factory=dict)
    touched: dict[str, None] = field(default_factory=dict)
    created: dict[str, None] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    consent_history: list[ConsentEntry] = field(default_factory=list)
    outgoing: list[CloudEvent] = field(default_factory=list)

    def writes(self) -> ProfileWrites:
        return ProfileWrites(
            new_identities=tuple(self.new_identities.values()),
            created=tuple(self.created),
            sightings=tuple(self.sightings.values()),
            customers=tuple(
                CustomerWrite(
                    customer=self.customers[cid],
                    traits=self.traits.get(cid, {}),
                    consents=self.consents.get(cid, {}),
                )
                for cid in self.touched
                # A customer the batch left exactly as stored (late or repeated events that
                # move no trait, consent, channel or sighting) is not rewritten.
                if self.loaded.get(cid) != self.customers[cid]
            ),
            events=tuple(self.events),
            consent_history=tuple(self.consent_history),
        )


async def handle_ingested(
    batch: Sequence[CloudEvent],
    *,
    store: ProfileStore,
    publisher: Publisher,
    gate: PrivacyGate | None = None,
    rules: TraitRules = DEFAULT_RULES,
    on_saved: CustomersChanged | None = None,
) -> None:
    """Resolve, store and publish a batch of ``io.threadline.ingest.*`` events.

    Another shard consumer may claim one of the batch's new identities between
    the lookup and the save; the save then claims nothing, and the batch is
    decided again against the current owners (up to ``CLAIM_ATTEMPTS`` times
    before the bus's own retry takes over).

    ``gate`` first drops the events of suppressed or erased people; whatever is
    stored is stored minimized (:func:`services.profile.screening.stored_writes`).
    """
    ingested = [IngestedEvent.from_data(event.id, event.data) for event in batch]
    if gate is not None:
        batch, ingested = await gate.admit(batch, ingested)
        if not batch:
            return
    wanted = list(dict.fromkeys(i for event in ingested for i in event.identities))
    for attempt in range(1, CLAIM_ATTEMPTS + 1):
        state = await _load(store, wanted)
        for cloud_event, event in zip(batch, ingested, strict=True):
            _decide(state, cloud_event, event, rules)
        try:
            await store.save(stored_writes(state.writes(), gate))
            break
        except IdentityConflictError:
            if attempt == CLAIM_ATTEMPTS:
                raise
            log.info("identity claimed concurrently; deciding the batch again (%d)", attempt)
            # Jitter, so consumers that collided do not collide again in lockstep.
            await asyncio.sleep(random.uniform(0, CLAIM_BACKOFF_SECONDS * attempt))
    await publisher.publish(state.outgoing)
    if on_saved is not None:
        await on_saved(list(state.touched))


async def _load(store: ProfileStore, identities: Sequence[Identity]) -> _Batch:
    known = await store.known(identities)
    owners = {identity: record.customer_id for identity, record in known.items()}
    customers = await store.customers(list(dict.fromkeys(owners.values())))
    return _Batch(
        owners=owners, records=dict(known), customers=dict(customers), loaded=dict(customers)
    )


def _decide(
    state: _Batch, cloud_event: CloudEvent, event: IngestedEvent, rules: TraitRules
) -> None:
    resolution = resolve(event.id, event.identities, state.owners)
    customer_id = resolution.customer_id
    for happened in resolution.events:
        if isinstance(happened, MergeDeferred):
            log.info(
                "event %s matches customers %s and %s; attributed to %s, merge deferred",
                event.id,
                customer_id,
                ", ".join(happened.others),
                customer_id,
            )
    customer = state.customers.get(customer_id) or Customer(id=customer_id)
    change = apply_event(customer, event, rules)
    state.customers[customer_id] = change.customer
    state.touched[customer_id] = None
    state.traits.setdefault(customer_id, {}).update(change.traits)
    state.consents.setdefault(customer_id, {}).update(change.consents)
    for identity in event.identities:
        owner = state.owners.setdefault(identity, customer_id)
        if owner != customer_id:
            continue  # owned by another customer: it stays there until a real merge
        _sighted(state, identity, customer_id, event)
    state.events.append(
        StoredEvent(
            id=event.id,
            customer_id=customer_id,
            kind=event.kind,
            timestamp=event.timestamp,
            channel=event.channel,
            data=event.data,
        )
    )
    state.consent_history.extend(ConsentEntry(customer_id, s) for s in change.statements)
    state.outgoing.append(_resolved(cloud_event, event, customer_id, change.customer))
    state.outgoing.extend(consent_changed_events(customer_id, change.consent_changes))
    if resolution.created:
        state.created[customer_id] = None
        created = next(e for e in resolution.events if isinstance(e, CustomerCreated))
        state.outgoing.append(
            _profile_event(CUSTOMER_CREATED, event, customer_id, created.identities, change)
        )
    elif resolution.attached or change.changed:
        state.outgoing.append(
            _profile_event(CUSTOMER_UPDATED, event, customer_id, resolution.attached, change)
        )


def _sighted(state: _Batch, identity: Identity, customer_id: str, event: IngestedEvent) -> None:
    at = event.timestamp
    record = state.records.get(identity)
    if record is None:
        record = IdentityRecord(identity, customer_id, at, at, event.source)
        state.records[identity] = state.new_identities[identity] = record
    elif identity in state.new_identities:
        state.records[identity] = state.new_identities[identity] = record.seen(at)
    elif record.worth_recording(at):
        state.records[identity] = state.sightings[identity] = record.seen(at)


def _resolved(
    cloud_event: CloudEvent, event: IngestedEvent, customer_id: str, customer: Customer
) -> CloudEvent:
    return CloudEvent(
        type=RESOLVED_PREFIX + event.kind,
        source=SOURCE,
        id=derived_id("resolved", event.id),
        time=event.timestamp,
        subject=customer_id,
        partitionkey=customer_id,
        # The consent state after the event, so downstream delivery can enforce it.
        data={
            **event.data,
            "customerId": customer_id,
            "ingestId": event.id,
            **consent_summary(customer.consents),
        },
        traceparent=cloud_event.traceparent,
        tracestate=cloud_event.tracestate,
    )


def _profile_event(
    event_type: str,
    event: IngestedEvent,
    customer_id: str,
    attached: Sequence[Identity],
    change: ProfileChange,
) -> CloudEvent:
    return CloudEvent(
        type=event_type,
        source=SOURCE,
        id=derived_id(event_type.removeprefix("io.threadline."), event.id),
        time=event.timestamp,
        subject=customer_id,
        partitionkey=customer_id,
        data={
            "customerId": customer_id,
            "causedBy": event.id,
            "identities": [{"type": i.type, "value": i.value} for i in attached],
            "traits": sorted(change.traits),
            "consents": sorted(change.consents),
        },
    )
