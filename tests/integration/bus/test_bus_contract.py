"""One contract for Publisher + Consumers, run against the RabbitMQ Bus and InMemoryBus.

The in-memory twin is only worth having if handlers tested against it behave
the same on the real broker; these scenarios hold for both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pytest

from shared.bus.in_memory import InMemoryBus, InMemoryInbox
from shared.bus.ports import Consumers, ConsumerSpec, ParkedMessage, Publisher
from shared.events import CloudEvent
from shared.mongo import Mongo
from tests.integration.bus.bus_helpers import (
    ConnectBus,
    bus_settings,
    eventually,
    track,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 3


class AnyBus(Publisher, Consumers, Protocol):
    pass


@dataclass
class Harness:
    bus: AnyBus
    memory: InMemoryBus | None

    async def settle(self, condition: Callable[[], bool], what: str) -> None:
        if self.memory is not None:
            await self.memory.drain()
            assert condition(), what
        else:
            await wait_until(condition, what=what)

    async def parked_until(self, group: str, count: int) -> list[ParkedMessage]:
        if self.memory is not None:
            await self.memory.drain()
            return await self.bus.parked(group)

        async def enough() -> bool:
            return len(await self.bus.parked(group)) >= count

        await eventually(enough, what=f"{count} parked event(s)")
        return await self.bus.parked(group)


@pytest.fixture(params=["rabbitmq", "memory"])
async def harness(
    request: pytest.FixtureRequest, infra, connect_bus: ConnectBus, mongo: Mongo
) -> AsyncIterator[Harness]:
    if request.param == "memory":
        memory = InMemoryBus(
            shards=4, batch_size=50, max_attempts=MAX_ATTEMPTS, inbox=InMemoryInbox()
        )
        yield Harness(memory, memory)
        await memory.close()
    else:
        bus = await connect_bus(bus_settings(infra, max_attempts=MAX_ATTEMPTS))
        yield Harness(bus, None)


async def test_contract_order_per_customer_and_duplicates_once(harness: Harness) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    calls: dict[str, int] = defaultdict(int)

    async def handler(events: Sequence[CloudEvent]) -> None:
        for event in events:
            calls[event.id] += 1
            seen[event.data["customer"]].append(event.data["seq"])

    group = unique("contract")
    await harness.bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    events = [track(f"k{c}", seq) for seq in range(15) for c in range(9)]
    await harness.bus.publish(events)
    await harness.bus.publish(events[:20])  # redelivered duplicates
    last = track("k0", 15)
    await harness.bus.publish([last])
    await harness.settle(lambda: last.id in calls, "the last event")

    assert seen == {f"k{c}": list(range(15)) + ([15] if c == 0 else []) for c in range(9)}
    assert set(calls.values()) == {1}


async def test_contract_poison_is_parked_listed_and_replayed(harness: Harness) -> None:
    fixed = False
    done: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        if not fixed and any(event.data.get("poison") for event in events):
            raise ValueError("malformed order")
        done.extend(event.id for event in events)

    group = unique("contract-poison")
    await harness.bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    poison = track("p", 1, poison=True)
    healthy = [track(f"h{i}", i) for i in range(10)]
    await harness.bus.publish([poison, *healthy])

    [parked] = await harness.parked_until(group, 1)
    assert parked.event.id == poison.id
    assert parked.attempts == MAX_ATTEMPTS
    assert "ValueError: malformed order" in parked.error
    assert set(done) == {event.id for event in healthy}

    fixed = True
    assert await harness.bus.replay(group, ["no-such-event"]) == 0
    assert await harness.bus.replay(group) == 1
    await harness.settle(lambda: poison.id in done, "the replayed event")
    assert await harness.bus.parked(group) == []
