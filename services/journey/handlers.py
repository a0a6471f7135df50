"""Journey handlers: load, decide in the pure domain, publish, save.

Every batch that touches a customer recomputes that customer's journey state from
all their stored touchpoints in event-time order (``domain.projection``), so late,
out-of-order and duplicate events land where they belong. What is new is published
*before* the state is saved: a crash in between republishes the same derived ids on
redelivery (consumers deduplicate them), whereas saving first would lose them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.journey.adapters.ports import (
    CatalogStore,
    IdentityStore,
    JourneyStore,
    SegmentStore,
    StateStore,
)
from services.journey.domain import JourneyError
from services.journey.domain.default_journeys import DEFAULT_CATALOG
from services.journey.domain.definitions import catalog_of
from services.journey.domain.frictions import FrictionSettings
from services.journey.domain.interactions import from_touchpoint
from services.journey.domain.journeys import JourneyCatalog
from services.journey.domain.projection import Known, project, stalls
from services.journey.domain.published import events_of
from services.journey.domain.stage_metrics import time_in_stage
from services.journey.domain.touchpoints import touchpoint_of
from shared.bus.ports import Publisher
from shared.events import CloudEvent, utcnow

CUSTOMER_EVENT = "io.threadline.customer.event."
MERGED = "io.threadline.customer.merged"
SPLIT = "io.threadline.customer.split"
ERASED = "io.threadline.customer.erased"
SEGMENT_ENTERED = "io.threadline.segment.entered"
SEGMENT_EXITED = "io.threadline.segment.exited"


@dataclass(frozen=True, slots=True)
class JourneyPorts:
    """What the journey handlers work with; ``clock`` is injectable for tests."""

    touchpoints: JourneyStore
    state: StateStore
    identity: IdentityStore
    catalog: CatalogStore
    segments: SegmentStore
    publisher: Publisher
    clock: Callable[[], datetime] = utcnow
    frictions: FrictionSettings = field(default_factory=FrictionSettings)


async def catalog(ports: JourneyPorts) -> JourneyCatalog:
    """The shipped journeys plus every version stored through the graph."""
    return catalog_of(DEFAULT_CATALOG, await ports.catalog.journeys())


async def recompute(
    customer_ids: Sequence[str], ports: JourneyPorts, now: datetime | None = None
) -> None:
    """Recompute, publish what is new, and save the state of ``customer_ids``."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return
    journeys = (await catalog(ports)).current()
    rules = await ports.catalog.triggers()
    points = await ports.touchpoints.touchpoints_of(ids)
    known = await ports.state.known(ids)
    p90 = await ports.state.stage_p90()
    moment = now if now is not None else ports.clock()
    projections = [
        project(
            cid,
            [from_touchpoint(t) for t in points.get(cid, [])],
            journeys,
            rules,
            moment,
            known.get(cid, Known()),
            ports.frictions,
            p90,
        )
        for cid in ids
    ]
    events = events_of(projections, rules)
    if events:
        await ports.publisher.publish(events)
    await ports.state.save(projections, {j.id: j.name for j in journeys})


async def handle_customer_events(batch: Sequence[CloudEvent], ports: JourneyPorts) -> None:
    """Store one touchpoint per ``customer.event.*`` under the customer's current id, then
    recompute the customers touched."""
    points = [touchpoint_of(event.id, event.data) for event in batch]
    aliases = await ports.identity.aliases([p.customer_id for p in points])
    points = [p.with_customer(aliases.get(p.customer_id, p.customer_id)) for p in points]
    erased = await ports.identity.erased([p.customer_id for p in points])
    points = [p for p in points if p.customer_id not in erased]
    await ports.touchpoints.save_touchpoints(points)
    customers = list(dict.fromkeys(p.customer_id for p in points))
    # A merge handled meanwhile on another shard may have re-keyed these customers
    # before the touchpoints above were written: move those along too.
    late = await ports.identity.aliases(customers)
    for merged, survivor in late.items():
        await ports.identity.rekey(survivor, [merged])
    await recompute([late.get(c, c) for c in customers], ports)


def _ids(data: dict[str, Any], key: str, event: CloudEvent) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise JourneyError(f"{event.type} {event.id}: `{key}` must be a list of strings")
    return list(value)


def _id(data: dict[str, Any], key: str, event: CloudEvent) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise JourneyError(f"{event.type} {event.id}: `{key}` must be a customer id")
    return value


async def handle_merged(event: CloudEvent, ports: JourneyPorts) -> None:
    survivor = _id(event.data, "customerId", event)
    aliases = await ports.identity.aliases([survivor])
    survivor = aliases.get(survivor, survivor)
    merged = _ids(event.data, "mergedIds", event)
    await ports.identity.record_merge(survivor, merged)
    await ports.identity.rekey(survivor, merged)
    await ports.segments.rekey(survivor, merged)
    await recompute([survivor], ports)


async def handle_split(event: CloudEvent, ports: JourneyPorts) -> None:
    original = _id(event.data, "customerId", event)
    original = (await ports.identity.aliases([original])).get(original, original)
    new_id = _id(event.data, "newCustomerId", event)
    await ports.identity.move(_ids(event.data, "ingestIds", event), original, new_id)
    await recompute([original, new_id], ports)


async def handle_erased(event: CloudEvent, ports: JourneyPorts) -> None:
    ids = _ids(event.data, "erasedIds", event)
    await ports.identity.erase([_id(event.data, "customerId", event), *ids])


async def handle_segment(event: CloudEvent, ports: JourneyPorts) -> None:
    """Keep the membership the profile announced, under the customer's current id."""
    customer = _id(event.data, "customerId", event)
    customer = (await ports.identity.aliases([customer])).get(customer, customer)
    if await ports.identity.erased([customer]):
        return
    version = event.data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise JourneyError(f"{event.type} {event.id}: `version` must be an integer")
    entered = event.type == SEGMENT_ENTERED
    segment = _id(event.data, "segmentId", event)
    await ports.segments.record(segment, customer, entered, version, event.time)


_IDENTITY = {MERGED: handle_merged, SPLIT: handle_split, ERASED: handle_erased,
             SEGMENT_ENTERED: handle_segment, SEGMENT_EXITED: handle_segment}  # fmt: skip


async def handle_events(batch: Sequence[CloudEvent], ports: JourneyPorts) -> None:
    """The ``journey.events`` group: resolved events in runs, identity and segment changes
    in order."""
    run: list[CloudEvent] = []
    for event in batch:
        if event.type.startswith(CUSTOMER_EVENT):
            run.append(event)
            continue
        if run:
            await handle_customer_events(run, ports)
            run = []
        handler = _IDENTITY.get(event.type)
        if handler is not None:
            await handler(event, ports)
    if run:
        await handle_customer_events(run, ports)


async def refresh_stage_times(ports: JourneyPorts) -> None:
    """Recompute the p90 of time in each stage over every customer's finished visits (the
    threshold of the stalled-stage friction), save it for the recomputations to read, and
    schedule the customers who will pass it (or passed a threshold that just changed)."""
    progresses = await ports.state.progresses()
    before = await ports.state.stage_p90()
    times = time_in_stage(progresses)
    p90 = {key: found.p90 for key, found in times.items() if found.p90 is not None}
    await ports.state.save_stage_p90(p90)
    await ports.state.schedule(stalls(progresses, p90, before, ports.clock()))


async def handle_due(ports: JourneyPorts, *, lease_seconds: float, limit: int) -> int:
    """The scheduler's turn: claim customers whose inactivity or deadline is due, and
    recompute them at the clock's now. Returns how many were due."""
    now = ports.clock()
    due = await ports.state.claim_due(now, lease_seconds, limit)
    await recompute(due, ports, now)
    return len(due)
