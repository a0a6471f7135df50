"""The journey consumer and scheduler.

``journey.events`` projects every resolved customer event and applies the profile's
identity changes (merged, split, erased); the scheduler recomputes customers whose
inactivity triggers or friction deadlines come due without any new event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from services.journey.handlers import (
    JourneyPorts,
    handle_due,
    handle_events,
    refresh_stage_times,
)
from shared.bus.ports import ConsumerSpec
from shared.errors import ThreadlineError
from shared.events import CloudEvent

CONSUMER = "journey.events"
BINDINGS = (
    "customer.event.#",
    "customer.merged",
    "customer.split",
    "customer.erased",
    "segment.entered",
    "segment.exited",
)

log = logging.getLogger("threadline.journey.scheduler")


def events_consumer(ports: JourneyPorts) -> ConsumerSpec:
    """The ``journey.events`` group over any journey ports; ``bootstrap`` wires the real ones."""

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_events(batch, ports)

    return ConsumerSpec(CONSUMER, BINDINGS, handle)


async def run_scheduler(
    ports: JourneyPorts,
    stop: asyncio.Event,
    *,
    interval_seconds: float,
    lease_seconds: float,
    batch: int,
    stage_times_seconds: float,
) -> None:
    """Every ``interval_seconds`` until ``stop``: recompute the customers that came due.

    Claims are conditional updates with a lease, so any number of worker processes may
    run this loop; a process that dies mid-turn leaves its claims to expire. A full
    turn is followed at once by another. Every ``stage_times_seconds`` it also refreshes
    the p90 of time in stage that the stalled-stage friction compares against.
    """
    loop = asyncio.get_running_loop()
    refreshed = -stage_times_seconds
    while not stop.is_set():
        due = 0
        try:
            if loop.time() - refreshed >= stage_times_seconds:
                await refresh_stage_times(ports)
                refreshed = loop.time()
            due = await handle_due(ports, lease_seconds=lease_seconds, limit=batch)
        except ThreadlineError as exc:
            log.warning("journey scheduler turn failed, retrying: %s", exc)
        if due >= batch:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
