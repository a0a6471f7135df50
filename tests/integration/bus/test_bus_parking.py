"""Poison messages: bounded retries, parking, listing and replay, on the real broker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import aio_pika
import pytest

from shared.bus.envelope import UNDECODABLE_TYPE
from shared.bus.ports import ConsumerSpec
from shared.errors import ValidationError
from shared.events import CloudEvent
from tests.integration.bus.bus_helpers import (
    ConnectBus,
    bus_settings,
    eventually,
    track,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_poison_event_is_parked_after_its_retries_while_others_flow_and_replays(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra, max_attempts=3, retry_delay_ms=100)
    group = unique("poison")
    fixed = False
    attempts: Counter[str] = Counter()
    processed: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        for event in events:
            attempts[event.id] += 1
            if event.data.get("poison") and not fixed:
                raise ValueError(f"cannot handle order {event.data['seq']}")
        processed.extend(event.id for event in events)

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))

    poison = track("carol", 7, poison=True)
    others = [track(f"c{i % 5}", i) for i in range(60)]
    await bus.publish([*others[:30], poison, *others[30:]])

    await wait_until(lambda: set(processed) >= {e.id for e in others}, what="the healthy events")

    async def parked_one() -> bool:
        return len(await bus.parked(group)) == 1

    await eventually(parked_one, what="the poison event to be parked")
    [parked] = await bus.parked(group)
    assert parked.event.id == poison.id
    assert parked.event.data == poison.data
    assert parked.consumer == group
    assert parked.attempts == settings.max_attempts
    assert "ValueError: cannot handle order 7" in parked.error
    assert poison.id not in processed
    # Listing does not consume: a second look sees the same message.
    assert [p.event.id for p in await bus.parked(group)] == [poison.id]

    fixed = True
    assert await bus.replay(group, [poison.id]) == 1
    await wait_until(lambda: poison.id in processed, what="the replayed event")
    assert await bus.parked(group) == []
    assert processed.count(poison.id) == 1


async def test_replay_moves_only_the_named_events(infra, connect_bus: ConnectBus) -> None:
    settings = bus_settings(infra, max_attempts=1)
    group = unique("replay")
    healed: set[str] = set()
    processed: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        for event in events:
            if event.id not in healed:
                raise RuntimeError("still broken")
        processed.extend(event.id for event in events)

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    broken = [track("dave", i) for i in range(3)]
    await bus.publish(broken)

    parked_ids: set[str] = set()

    async def poll() -> bool:
        parked_ids.update(p.event.id for p in await bus.parked(group))
        return len(parked_ids) == 3

    await eventually(poll, what="three parked events")
    assert parked_ids == {e.id for e in broken}

    healed.add(broken[1].id)
    assert await bus.replay(group, [broken[1].id]) == 1
    await wait_until(lambda: processed == [broken[1].id], what="the one replayed event")
    assert {p.event.id for p in await bus.parked(group)} == {broken[0].id, broken[2].id}

    healed.update(e.id for e in broken)
    assert await bus.replay(group) == 2
    await wait_until(lambda: len(processed) == 3, what="the rest")
    assert sorted(processed) == sorted(e.id for e in broken)


async def test_a_body_that_is_not_a_cloudevent_goes_straight_to_parking(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra, max_attempts=5)
    group = unique("garbage")
    calls: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        calls.extend(event.id for event in events)

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))

    connection = await aio_pika.connect(infra.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.exchange)
        await exchange.publish(
            aio_pika.Message(
                b"{not json", message_id="garbage-1", headers={"ce-partitionkey": "erin"}
            ),
            routing_key="ingest.track",
        )
    finally:
        await connection.close()
    after = track("erin", 1)
    await bus.publish([after])
    await wait_until(lambda: after.id in calls, what="the event behind the garbage")

    [parked] = await bus.parked(group)
    assert parked.event.type == UNDECODABLE_TYPE
    assert parked.event.id == "garbage-1"
    assert parked.event.data["body"] == "{not json"
    assert "undecodable" in parked.error
    assert "not valid JSON" in parked.error
    assert parked.attempts == 0
    assert calls == [after.id]


def _envelope(customer: str, inner: Sequence[CloudEvent]) -> CloudEvent:
    return CloudEvent(
        type="io.threadline.ingest.batch",
        source="threadline/test",
        data={"events": [event.to_dict() for event in inner]},
        partitionkey=customer,
    )


def _carried(event: CloudEvent) -> list[CloudEvent]:
    if event.type != "io.threadline.ingest.batch":
        return [event]
    return [CloudEvent.from_dict(raw) for raw in event.data["events"]]


async def test_a_poison_event_inside_an_envelope_is_parked_alone_and_its_neighbours_flow(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra, max_attempts=3, retry_delay_ms=100)
    group = unique("carried")
    fixed = False
    processed: Counter[str] = Counter()

    async def handler(events: Sequence[CloudEvent]) -> None:
        for event in events:
            if event.data.get("poison") and not fixed:
                raise ValueError(f"cannot store order {event.data['seq']}")
        processed.update(event.id for event in events)

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler, unpack=_carried))

    inner = [track("dave", i) for i in range(50)]
    poison = track("dave", 50, poison=True)
    await bus.publish([_envelope("dave", [*inner[:25], poison, *inner[25:]])])

    await wait_until(lambda: set(processed) == {e.id for e in inner}, what="the 50 good events")

    async def parked_one() -> bool:
        return len(await bus.parked(group)) == 1

    await eventually(parked_one, what="the poison event to be parked")
    [parked] = await bus.parked(group)
    assert parked.event.id == poison.id  # alone, not the envelope
    assert parked.event.data == poison.data
    assert parked.attempts == settings.max_attempts
    assert "cannot store order 50" in parked.error

    # The same events again in another envelope: each one is recognised by its own id.
    await bus.publish([_envelope("dave", inner[:10])])
    fixed = True
    assert await bus.replay(group, [poison.id]) == 1
    await wait_until(lambda: poison.id in processed, what="the replayed event")
    assert set(processed.values()) == {1}
    assert await bus.parked(group) == []


async def test_listing_or_replaying_an_unknown_consumer_group_names_it_and_creates_nothing(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra)
    bus = await connect_bus(settings)
    missing = unique("no-such-group")
    with pytest.raises(ValidationError, match=f"no consumer group named '{missing}'"):
        await bus.parked(missing)
    with pytest.raises(ValidationError, match="consumer"):
        await bus.replay(missing)
    await bus.ping()  # the bus still works afterwards

    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(f"{settings.exchange}.{missing}.parked", passive=True)
    finally:
        await connection.close()
