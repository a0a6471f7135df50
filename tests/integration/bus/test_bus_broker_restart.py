"""A RabbitMQ restart while events flow: publish fails fast, then recovers by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.bus.ports import ConsumerSpec
from shared.errors import BusError
from shared.events import CloudEvent
from tests.integration.bus.bus_helpers import (
    ConnectBus,
    bus_settings,
    eventually,
    track,
    unique,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_publish_fails_fast_while_broker_is_down_and_recovers_without_a_new_bus(
    infra, connect_bus: ConnectBus
) -> None:
    if infra.rabbit is None:
        pytest.skip("the broker is external (THREADLINE_AMQP_URL): this test cannot restart it")
    settings = bus_settings(infra)
    handled: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        handled.extend(event.id for event in events)

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(unique("restart"), ("ingest.#",), handler))
    before = [track(f"c{i}", i) for i in range(20)]
    await bus.publish(before)

    rabbit = infra.rabbit
    try:
        await asyncio.to_thread(rabbit.stop)
        down = track("c-down", 0)
        # Bounded: a publish that hangs fails here instead of blocking the suite.
        with pytest.raises(BusError):
            await asyncio.wait_for(bus.publish([down]), timeout=15)
        with pytest.raises(BusError):
            await asyncio.wait_for(bus.ping(), timeout=15)
    finally:
        if rabbit.process is None:
            await asyncio.to_thread(rabbit.start)

    after = track("c-up", 1)

    async def published() -> bool:
        try:
            await bus.publish([after])
        except BusError:
            return False
        return True

    await eventually(published, limit=90, what="publishing to work again")
    await bus.ping()
    # Confirmed before the restart (persistent, quorum) and after it: all handled
    # by the same consumers, which the robust connection restored.
    await wait_until(
        lambda: {e.id for e in [*before, after]} <= set(handled),
        limit=90,
        what="events from before and after the restart",
    )
