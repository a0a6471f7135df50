"""Operator commands on identities: merge customers, split identifiers off a customer.

Both are idempotent: a merge's log id derives from its cause (``operator:<subject>``)
and its customers; a split's new customer id from the original and the
identifiers split off, and a split reads what the same split moved before as
still to move, so repeating either (after a crash half way, too) completes it
and republishes the same event ids.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.profile.adapters.ports import MergeConflictError, ProfileStore
from services.profile.domain import ProfileError
from services.profile.domain.customer import IngestedEvent
from services.profile.domain.identity import Identity, identities_of
from services.profile.domain.merging import (
    MergePlan,
    events_to_split,
    log_entry,
    rebuild,
    said_in,
)
from services.profile.domain.traits import fold_traits
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id, format_time

SOURCE = "threadline/profile"
CUSTOMER_MERGED = "io.threadline.customer.merged"
CUSTOMER_SPLIT = "io.threadline.customer.split"
MERGE_ATTEMPTS = 5


class CustomerCommandError(ProfileError):
    """An operator's merge or split that cannot be done as asked; the message says why."""


def merged_event(plan: MergePlan) -> CloudEvent:
    """``customer.merged`` of a merge; its id derives from the merge, so a replay repeats it."""
    return CloudEvent(
        type=CUSTOMER_MERGED,
        source=SOURCE,
        id=derived_id("customer.merged", plan.log_id),
        time=plan.at,
        subject=plan.survivor,
        partitionkey=plan.survivor,
        data={
            "customerId": plan.survivor,
            "mergedIds": list(plan.merged),
            "causedBy": plan.caused_by,
            "reason": plan.reason,
            "at": format_time(plan.at),
        },
    )


async def announce(store: ProfileStore, publisher: Publisher, plans: Sequence[MergePlan]) -> None:
    """Publish ``customer.merged`` of merges done, then note it (a crash in between
    republishes the same event ids on the next delivery)."""
    if plans:
        await publisher.publish([merged_event(plan) for plan in plans])
        await store.announced([plan.log_id for plan in plans])


async def merge_customers(
    store: ProfileStore,
    publisher: Publisher,
    *,
    survivor_id: str,
    merged_ids: Sequence[str],
    reason: str,
    operator: str,
    at: datetime,
) -> str:
    """Merge ``merged_ids`` into ``survivor_id`` (an operator's decision: no rule applies).

    Customers merged before are followed to their survivors. Returns the survivor's id.
    """
    cause = f"operator:{operator}"
    # The operator's earlier merge may have died before its customer.merged was confirmed.
    await announce(store, publisher, await store.unannounced([cause]))
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        found = await store.customers([survivor_id, *merged_ids])
        missing = sorted({survivor_id, *merged_ids} - set(found))
        if missing:
            raise CustomerCommandError(
                f"no customer {', '.join(missing)}; pass ids of existing customers"
            )
        survivor = found[survivor_id].id
        losers = tuple(sorted({found[m].id for m in merged_ids} - {survivor}))
        if not losers:
            return survivor  # merged already
        plan = MergePlan(survivor, losers, cause, reason, at)
        try:
            await store.merge(plan)
        except MergeConflictError:
            if attempt == MERGE_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0, 0.05 * attempt))
            continue
        await announce(store, publisher, [plan])
        return survivor
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Split:
    """The outcome of a split: the new customer and the ingest events that moved to it."""

    customer_id: str
    new_customer_id: str
    identities: tuple[Identity, ...]
    ingest_ids: tuple[str, ...]


async def split_customer(
    store: ProfileStore,
    publisher: Publisher,
    *,
    customer_id: str,
    identities: Sequence[Identity],
    reason: str,
    operator: str,
    at: datetime,
) -> Split:
    """Move ``identities`` off a customer to a new one, with the history that was theirs.

    The events that carried only the identifiers split off (none that stay) move
    with them; the new customer's traits are rebuilt from those events.
    """
    original = (await store.customers([customer_id])).get(customer_id)
    if original is None:
        raise CustomerCommandError(f"no customer {customer_id}; pass an existing customer's id")
    leaving = tuple(dict.fromkeys(identities))
    keys = sorted(identity.key for identity in leaving)
    new_id = derived_id("split", original.id, *keys).replace("-", "")
    # What a split of the same identifiers moved before (it may have died half way) counts
    # as the original's again, so repeating the split completes it and changes nothing more.
    owned = await store.identities_of([original.id, new_id])
    mine = {r.identity for records in owned.values() for r in records}
    foreign = [i.type for i in leaving if i not in mine]
    if foreign or not leaving:
        raise CustomerCommandError(
            f"customer {original.id} does not own the {', '.join(foreign) or 'given'} "
            "identifier(s) to split off; pass identifiers listed in Customer.identities"
        )
    staying = mine - set(leaving)
    stored = sorted(
        [*await store.events(original.id), *await store.events(new_id)],
        key=lambda e: (e.timestamp, e.id),
    )
    carried = ((e.id, e.identities or identities_of(e.data)) for e in stored)
    moved, along = events_to_split(carried, leaving, staying)
    if not staying - set(along):
        raise CustomerCommandError(
            "a split must leave the customer at least one identifier; split off fewer"
        )
    leaving = (*leaving, *along)
    chosen = set(moved)
    new = rebuild(new_id, [IngestedEvent.from_data(e.id, e.data) for e in stored if e.id in chosen])
    # Stored events keep no personal traits (privacy): those come from the statements the
    # original kept, each naming its event.
    new = replace(new, traits=fold_traits(new.traits, said_in(original.traits, chosen)))
    await store.split(original.id, new, leaving, moved)
    cause = f"operator:{operator}"
    await store.record(
        [
            log_entry("split", original.id, reason, cause, at, leaving, [new_id]),
            log_entry("split", new_id, reason, cause, at, leaving, [original.id]),
        ]
    )
    split = Split(original.id, new_id, leaving, tuple(moved))
    await publisher.publish([_split_event(split, at)])
    return split


def _split_event(split: Split, at: datetime) -> CloudEvent:
    """``customer.split``: the two customer ids and the ingest ids that moved.

    Journey and scoring re-key by ``ingestIds`` alone (their ``handle_split``), so the
    identifiers split off are named by type only: no identifier value (email, phone,
    loyalty card…) travels on the bus, where every subscriber and webhook would see it.
    An operator reads them, with ``pii:read``, in ``Customer.mergeLog``.
    """
    return CloudEvent(
        type=CUSTOMER_SPLIT,
        source=SOURCE,
        id=derived_id("customer.split", split.customer_id, split.new_customer_id),
        time=at,
        subject=split.customer_id,
        partitionkey=split.customer_id,
        data={
            "customerId": split.customer_id,
            "newCustomerId": split.new_customer_id,
            "identities": [{"type": i.type} for i in split.identities],
            "ingestIds": list(split.ingest_ids),
            "at": format_time(at),
        },
    )
