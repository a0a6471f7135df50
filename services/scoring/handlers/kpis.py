"""KPI handlers: resolved events and identity changes into facts, contributions and buckets.

Each handler stores facts first, then recomputes the contributions of only the
customers and orders whose facts changed (``kpi_buckets.py``), so an event
costs its own customer's history and a few buckets, never the whole base.
Everything is replayable: facts are keyed by event id, contributions are a
function of the stored facts, and ``KpiStore.replace`` reaches the buckets
exactly once.

Identity changes (DESIGN.md §3, the round's contracts): ``customer.merged``
aliases the merged ids to the survivor (persisted, applied to every later
event) and re-keys their facts; ``customer.split`` moves the facts of the
listed ingest events to the new customer; ``customer.erased`` deletes every
fact of the erased ids and remembers them, so later events for them are
dropped. A merge or erasure may arrive before or after events that still
carry an old id (they travel on other shards): after storing facts a batch
looks at the aliases and erasures again and moves or deletes what it filed
under an id that changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from services.scoring.adapters.ports import KpiStore, customer_key, order_key
from services.scoring.domain import ScoringError
from services.scoring.domain.kpi_buckets import Fact, customer_contribution, order_contribution
from shared.events import CloudEvent, parse_time


async def handle_resolved(batch: Sequence[CloudEvent], *, store: KpiStore) -> dict[str, list[Fact]]:
    """Store the batch's facts and refresh what they touch; returns the customers' histories."""
    return await record_facts(
        [Fact.from_data(event.id, event.data) for event in batch], store=store
    )


async def record_facts(facts: Sequence[Fact], *, store: KpiStore) -> dict[str, list[Fact]]:
    """``handle_resolved`` after parsing: facts of any customers, in any order, repeated or late."""
    owners = {f.event.customer_id for f in facts}
    survivors = await store.survivors(owners)
    gone = await store.erased({*owners, *survivors.values()})
    kept = [
        _owned_by(f, survivors.get(f.event.customer_id, f.event.customer_id))
        for f in facts
        if f.event.customer_id not in gone
        and survivors.get(f.event.customer_id, f.event.customer_id) not in gone
    ]
    await store.add_facts(kept)
    filed = {f.event.customer_id for f in kept}
    customers, dropped = await _settle(store, filed)
    orders = {f.event.order.order_id for f in kept if f.event.order is not None}
    return await refresh(store, customers, orders | dropped)


async def _settle(store: KpiStore, filed: set[str]) -> tuple[set[str], set[str]]:
    """Move facts filed under an id merged or erased while the batch ran; returns the
    customers to refresh and the orders whose facts an erasure deleted meanwhile."""
    now = await store.survivors(filed)
    for merged, survivor in now.items():
        await store.move_customers([merged], survivor)
    customers = {now.get(c, c) for c in filed}
    erased = await store.erased(customers)
    dropped = await store.delete_customers(sorted(erased)) if erased else set()
    return customers | erased, dropped


async def refresh(
    store: KpiStore, customers: Iterable[str], orders: Iterable[str] = ()
) -> dict[str, list[Fact]]:
    """Recompute the contributions of these customers and orders from their stored facts."""
    customer_ids, order_ids = sorted(set(customers)), sorted(set(orders))
    # Versions are read before facts: a writer that stored facts after this read also
    # bumps a version, so this batch's replace fails stale instead of losing them.
    current = await store.contributors(
        [*map(customer_key, customer_ids), *map(order_key, order_ids)]
    )
    histories = await store.customer_facts(customer_ids)
    order_events = await store.order_facts(order_ids)
    buyers = {e.customer_id for events in order_events.values() for e in events}
    members = await store.segments_of({*customer_ids, *buyers})
    changes = [
        (current[customer_key(c)], customer_contribution(histories[c], members.get(c, ())))
        for c in customer_ids
    ]
    changes += [
        (current[order_key(o)], order_contribution(order_events[o], members)) for o in order_ids
    ]
    await store.replace(changes)
    return histories


async def handle_merged(data: Mapping[str, Any], *, store: KpiStore) -> None:
    survivor = _text(data, "customerId", "customer.merged")
    merged = [str(m) for m in data.get("mergedIds") or () if str(m) != survivor]
    if not merged:
        return
    survivor = (await store.survivors([survivor])).get(survivor, survivor)
    await store.record_merge(merged, survivor)
    await store.move_customers(merged, survivor)
    # Orders too: their events' customer changed, which moves them between segment scopes.
    await refresh(store, [survivor, *merged], await _orders_of(store, [survivor]))


async def handle_split(data: Mapping[str, Any], *, store: KpiStore) -> None:
    original = _text(data, "customerId", "customer.split")
    created = _text(data, "newCustomerId", "customer.split")
    ingests = [str(i) for i in data.get("ingestIds") or ()]
    original = (await store.survivors([original])).get(original, original)
    await store.forget_alias(created)
    await store.move_ingests(ingests, created)
    await refresh(store, [original, created], await _orders_of(store, [original, created]))


async def handle_erased(data: Mapping[str, Any], *, store: KpiStore) -> list[str]:
    """Remove every contribution of the erased ids; returns them (other projections erase too)."""
    ids = sorted(
        {_text(data, "customerId", "customer.erased"), *map(str, data.get("erasedIds") or ())}
    )
    await store.record_erased(ids)
    orders = await store.delete_customers(ids)
    await refresh(store, ids, orders)
    return ids


async def handle_membership(data: Mapping[str, Any], *, inside: bool, store: KpiStore) -> None:
    """``segment.entered`` / ``segment.exited``: the customer's contributions move into or out
    of the segment's scope (current membership; a stale change by ``at`` is ignored)."""
    kind = "segment.entered" if inside else "segment.exited"
    segment = _text(data, "segmentId", kind)
    customer = _text(data, "customerId", kind)
    try:
        at = parse_time(_text(data, "at", kind))
    except ValueError as exc:
        raise ScoringError(f"{kind} event with an invalid at: {exc}") from exc
    customer = (await store.survivors([customer])).get(customer, customer)
    if not await store.record_membership(segment, customer, inside, at):
        return
    await refresh(store, [customer], await _orders_of(store, [customer]))


async def _orders_of(store: KpiStore, customers: Sequence[str]) -> set[str]:
    histories = await store.customer_facts(customers)
    return {
        f.event.order.order_id
        for facts in histories.values()
        for f in facts
        if f.event.order is not None
    }


def _owned_by(fact: Fact, customer_id: str) -> Fact:
    if fact.event.customer_id == customer_id:
        return fact
    return replace(fact, event=replace(fact.event, customer_id=customer_id))


def _text(data: Mapping[str, Any], name: str, kind: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ScoringError(
            f"{kind} event without {name}; the profile publishes it as a string (contracts)"
        )
    return value
