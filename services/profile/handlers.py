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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from services.profile.adapters.ports import (
    ConsentEntry,
    CustomerWrite,
    IdentityConflictError,
    MergeConflictError,
    ProfileStore,
    ProfileWrites,
    StoredEvent,
)
from services.profile.consent_handlers import consent_changed_events
from services.profile.domain import ProfileError
from services.profile.domain.consent import ConsentState, consent_summary
from services.profile.domain.customer import Customer, IngestedEvent, ProfileChange, apply_event
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.identity_slots import (
    IdentitySlot,
    merge_slots,
    slots_for,
    slotted_types,
)
from services.profile.domain.merging import MergeLogEntry, MergePlan, log_entry
from services.profile.domain.resolution import OwnerProfile, Resolution, resolve
from services.profile.domain.resolution_rules import DEFAULT_RULES, ResolutionRules
from services.profile.domain.traits import DEFAULT_RULES as DEFAULT_TRAIT_RULES
from services.profile.domain.traits import TraitRules, TraitState
from services.profile.merges import SOURCE, announce
from services.profile.screening import PrivacyGate, stored_writes
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id

log = logging.getLogger("threadline.profile")

RESOLVED_PREFIX = "io.threadline.customer.event."
CUSTOMER_CREATED = "io.threadline.customer.created"
CUSTOMER_UPDATED = "io.threadline.customer.updated"
CLAIM_ATTEMPTS = 16
"""How often a batch is decided again after a concurrent claim or merge got in its way."""
MERGES_PER_EVENT = 4
"""A bound on the rounds a batch may take for its merges (each one is progress)."""
CLAIM_BACKOFF_SECONDS = 0.005
CustomersChanged = Callable[[Sequence[str]], Awaitable[None]]
"""Told the customers a saved batch touched (segments re-evaluate them)."""


@dataclass
class _Batch:
    """What the batch changes, coalesced per customer and per identity."""

    owners: dict[Identity, str]
    records: dict[Identity, IdentityRecord]
    customers: dict[str, Customer]
    profiles: dict[str, OwnerProfile] = field(default_factory=dict)
    loaded: dict[str, Customer] = field(default_factory=dict)
    new_identities: dict[Identity, IdentityRecord] = field(default_factory=dict)
    sightings: dict[Identity, IdentityRecord] = field(default_factory=dict)
    traits: dict[str, dict[str, TraitState]] = field(default_factory=dict)
    consents: dict[str, dict[str, ConsentState]] = field(default_factory=dict)
    touched: dict[str, None] = field(default_factory=dict)
    created: dict[str, None] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    log: list[MergeLogEntry] = field(default_factory=list)
    consent_history: list[ConsentEntry] = field(default_factory=list)
    outgoing: list[CloudEvent] = field(default_factory=list)
    slots: list[IdentitySlot] = field(default_factory=list)

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
            log=tuple(self.log),
            consent_history=tuple(self.consent_history),
            slots=tuple(self.slots),
        )

    def profile(self, customer_id: str) -> OwnerProfile:
        """What resolution knows of an owner; one created in this batch from its claims."""
        known = self.profiles.get(customer_id)
        mine = {i: r.first_seen for i, r in self.records.items() if r.customer_id == customer_id}
        if known is None:
            customer = self.customers.get(customer_id)
            first = customer.first_seen if customer is not None else None
            return OwnerProfile(customer_id, mine, first_seen=first)
        return OwnerProfile(
            customer_id, {**mine, **known.identities}, known.merges, known.first_seen, known.apart
        )


async def handle_ingested(
    batch: Sequence[CloudEvent],
    *,
    store: ProfileStore,
    publisher: Publisher,
    rules: ResolutionRules = DEFAULT_RULES,
    traits: TraitRules = DEFAULT_TRAIT_RULES,
    gate: PrivacyGate | None = None,
    on_saved: CustomersChanged | None = None,
) -> None:
    """Resolve, store and publish a batch of ``io.threadline.ingest.*`` events.

    Events are decided in order against one read of their identities' owners.
    An event that merges customers stops the round: what was decided before it
    is saved, the merge is carried out (and ``customer.merged`` published), and
    the rest of the batch is decided again against the merged state. Another
    shard consumer may claim one of the batch's new identities, or merge one of
    its customers, between the read and the save; the save then fails having
    kept nothing that matters, and the batch is decided again (up to
    ``CLAIM_ATTEMPTS`` times before the bus's own retry takes over).

    ``rules`` decide identity resolution, ``traits`` how each trait combines its
    values. ``gate`` first drops the events of suppressed or erased people; whatever
    is stored is stored minimized (:func:`services.profile.screening.stored_writes`).
    ``on_saved`` is told the customers the batch touched once it is published.
    """
    ingested = [IngestedEvent.from_data(event.id, event.data) for event in batch]
    if gate is not None:
        batch, ingested = await gate.admit(batch, ingested)
        if not batch:
            return
    # A delivery before this one merged, then died before customer.merged was confirmed.
    await announce(store, publisher, await store.unannounced([event.id for event in batch]))
    outgoing, touched = await _resolve_all(
        list(zip(batch, ingested, strict=True)), store, publisher, _Options(rules, traits, gate)
    )
    await publisher.publish(outgoing)
    if on_saved is not None:
        await on_saved(touched)


@dataclass(frozen=True, slots=True)
class _Options:
    rules: ResolutionRules
    traits: TraitRules
    gate: PrivacyGate | None


Pending = list[tuple[CloudEvent, IngestedEvent]]
_CONFLICTS = (IdentityConflictError, MergeConflictError)


async def _resolve_all(
    pending: Pending, store: ProfileStore, publisher: Publisher, options: _Options
) -> tuple[list[CloudEvent], list[str]]:
    """Decide and save the events round by round, merging where an event needs it; what
    to publish and the customers touched."""
    outgoing: list[CloudEvent] = []
    touched: dict[str, None] = {}
    conflicts = rounds = 0
    limit = CLAIM_ATTEMPTS + MERGES_PER_EVENT * len(pending)
    while pending:
        rounds += 1
        if rounds > limit:
            raise ProfileError(
                f"a batch of {len(pending)} events took {rounds - 1} rounds of merges and "
                "retries without settling; the bus retries it (a larger "
                "THREADLINE_IDENTITY_MAX_MERGES is no cure: look for a merge that keeps "
                "failing in the log)"
            )
        try:
            state, done, plan = await _decide_and_save(pending, store, options)
        except _CONFLICTS as exc:
            conflicts = await _after_conflict(conflicts, exc)
            continue
        outgoing += state.outgoing
        touched.update(state.touched)
        pending = pending[done:]
        if plan is None:
            continue
        try:
            await store.merge(plan)
            await announce(store, publisher, [plan])
        except _CONFLICTS as exc:
            conflicts = await _after_conflict(conflicts, exc)
    return outgoing, list(touched)


async def _decide_and_save(
    pending: Pending, store: ProfileStore, options: _Options
) -> tuple[_Batch, int, MergePlan | None]:
    """One round: the events decided (and saved) before the first that needs a merge."""
    state = await _load(store, [event for _, event in pending])
    done, plan = 0, None
    for cloud_event, event in pending:
        plan = _decide(state, cloud_event, event, options.rules, options.traits)
        if plan is not None:
            break
        done += 1
    if done:
        await store.save(stored_writes(state.writes(), options.gate))
    return state, done, plan


async def _after_conflict(conflicts: int, exc: Exception) -> int:
    conflicts += 1
    if conflicts == CLAIM_ATTEMPTS:
        raise exc
    log.info("batch raced a claim or a merge; deciding it again (%d): %s", conflicts, exc)
    # Jitter, so consumers that collided do not collide again in lockstep.
    await asyncio.sleep(random.uniform(0, CLAIM_BACKOFF_SECONDS * min(conflicts, 8)))
    return conflicts


async def _load(store: ProfileStore, events: Sequence[IngestedEvent]) -> _Batch:
    wanted = list(dict.fromkeys(i for event in events for i in event.identities))
    known = await store.known(wanted)
    customers = await store.customers(list(dict.fromkeys(r.customer_id for r in known.values())))
    # Identities that still name a merged-away customer answer its survivor.
    owners = {
        identity: customers[record.customer_id].id
        for identity, record in known.items()
        if record.customer_id in customers
    }
    stale = sorted(
        {r.customer_id for i, r in known.items() if owners.get(i, r.customer_id) != r.customer_id}
    )
    if stale:
        # Claims that raced a merge still name the merged-away customer: move them now.
        await store.settle(stale)
    roots = {customer.id: customer for customer in customers.values()}
    state = _Batch(
        owners=owners,
        records={i: replace(r, customer_id=owners[i]) for i, r in known.items() if i in owners},
        customers=dict(roots),
        loaded=dict(roots),
    )
    contested = _contested(events, owners)
    if contested:
        state.profiles = await store.owner_profiles(contested)
    return state


def _contested(events: Sequence[IngestedEvent], owners: Mapping[Identity, str]) -> list[str]:
    """The owners whose identifiers resolution must weigh: events that link or merge."""
    found: dict[str, None] = {}
    for event in events:
        mine = {owners[i] for i in event.identities if i in owners}
        if len(mine) > 1 or (mine and any(i not in owners for i in event.identities)):
            found.update(dict.fromkeys(sorted(mine)))
    return list(found)


def _decide(
    state: _Batch,
    cloud_event: CloudEvent,
    event: IngestedEvent,
    rules: ResolutionRules,
    traits: TraitRules,
) -> MergePlan | None:
    """Apply one event to the batch state, or return the merge it needs first."""
    owners = {i: state.owners[i] for i in event.identities if i in state.owners}
    profiles = {cid: state.profile(cid) for cid in set(owners.values())}
    resolution = resolve(event.id, event.identities, owners, profiles, rules, event.timestamp)
    if resolution.merged:
        return MergePlan(
            survivor=resolution.customer_id,
            merged=resolution.merged,
            caused_by=event.id,
            reason=_merge_reason(resolution),
            at=event.timestamp,
            identities=resolution.linked_by,
            slots=tuple(
                merge_slots(
                    rules,
                    resolution.customer_id,
                    {
                        cid: state.profile(cid).identities
                        for cid in (resolution.customer_id, *resolution.merged)
                    },
                    event.id,
                )
            ),
        )
    customer_id = resolution.customer_id
    _record_links(state, event, resolution, rules)
    _claim_slots(state, event, resolution, rules)
    customer = state.customers.get(customer_id) or Customer(id=customer_id)
    change = apply_event(customer, event, traits)
    state.customers[customer_id] = change.customer
    state.touched[customer_id] = None
    state.traits.setdefault(customer_id, {}).update(change.traits)
    state.consents.setdefault(customer_id, {}).update(change.consents)
    for identity in resolution.attached:
        state.owners[identity] = customer_id
    for identity in event.identities:
        if state.owners.get(identity) == customer_id:
            _sighted(state, identity, customer_id, event)
    state.events.append(
        StoredEvent(
            id=event.id,
            customer_id=customer_id,
            kind=event.kind,
            timestamp=event.timestamp,
            channel=event.channel,
            data=event.data,
            identities=event.identities,
        )
    )
    state.consent_history.extend(ConsentEntry(customer_id, s) for s in change.statements)
    state.outgoing.append(_resolved(cloud_event, event, customer_id, change.customer))
    state.outgoing.extend(consent_changed_events(customer_id, change.consent_changes))
    if resolution.created:
        state.created[customer_id] = None
        mine = tuple(i for i in event.identities if state.owners.get(i) == customer_id)
        state.outgoing.append(_profile_event(CUSTOMER_CREATED, event, customer_id, mine, change))
    elif resolution.attached or change.changed:
        state.outgoing.append(
            _profile_event(CUSTOMER_UPDATED, event, customer_id, resolution.attached, change)
        )
    return None


def _merge_reason(resolution: Resolution) -> str:
    kinds = ", ".join(sorted({i.type for i in resolution.linked_by}))
    return f"one event carried identifiers ({kinds}) of {len(resolution.merged) + 1} customers"


def _record_links(
    state: _Batch, event: IngestedEvent, resolution: Resolution, rules: ResolutionRules
) -> None:
    """Merge-log entries: identifiers linked to a known customer, and links refused."""
    customer_id = resolution.customer_id
    if resolution.attached and not resolution.created:
        kinds = ", ".join(sorted({i.type for i in resolution.linked_by})) or "its identifiers"
        state.log.append(
            log_entry(
                "linked",
                customer_id,
                f"seen in one event with the customer's {kinds}",
                event.id,
                event.timestamp,
                resolution.attached,
            )
        )
    for refusal in resolution.refused:
        if rules.blocked(refusal.identity) is not None:
            continue  # a placeholder value links nothing: no news for the log
        state.log.append(
            log_entry(
                "refused",
                customer_id,
                refusal.reason,
                event.id,
                event.timestamp,
                [refusal.identity],
                [refusal.owner] if refusal.owner else [],
            )
        )


def _claim_slots(
    state: _Batch, event: IngestedEvent, resolution: Resolution, rules: ResolutionRules
) -> None:
    """The limit slots the event's attachments claim, counted from what the decision saw."""
    kinds = slotted_types(rules)
    if not any(identity.type in kinds for identity in resolution.attached):
        return  # the hot path: unlimited types claim nothing
    customer_id = resolution.customer_id
    held = state.profile(customer_id).identities
    state.slots += slots_for(rules, customer_id, held, resolution.attached, event.id)


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
