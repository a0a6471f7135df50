"""InMemoryBus keeps the messaging port's semantics (minus durability)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import pytest

from shared.bus.in_memory import InMemoryBus, InMemoryInbox, topic_matches
from shared.bus.ports import ConsumerSpec
from shared.errors import BusError, ConfigurationError
from shared.events import CloudEvent


def event(kind: str, customer: str, seq: int, **data: object) -> CloudEvent:
    return CloudEvent(
        type=f"io.threadline.{kind}",
        source="threadline/test",
        data={"customer": customer, "seq": seq, **data},
        partitionkey=customer,
    )


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("ingest.#", "ingest.track", True),
        ("ingest.#", "ingest", True),
        ("customer.event.#", "customer.event.track", True),
        ("customer.event.#", "customer.created", False),
        ("customer.*", "customer.created", True),
        ("customer.*", "customer.event.track", False),
        ("#", "anything.at.all", True),
        ("*.track", "ingest.track", True),
        ("ingest.track", "ingest.page", False),
    ],
)
def test_topic_patterns_match_like_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


async def test_each_customers_events_are_handled_in_order_and_only_by_bound_groups() -> None:
    bus = InMemoryBus(shards=3, batch_size=4, inbox=InMemoryInbox())
    seen: dict[str, list[int]] = defaultdict(list)
    created: list[str] = []

    async def on_ingest(events: Sequence[CloudEvent]) -> None:
        for e in events:
            seen[e.data["customer"]].append(e.data["seq"])

    async def on_created(events: Sequence[CloudEvent]) -> None:
        created.extend(e.id for e in events)

    await bus.start(ConsumerSpec("profile.ingest", ("ingest.#",), on_ingest))
    await bus.start(ConsumerSpec("profile.created", ("customer.created",), on_created))
    customers = [f"c{i}" for i in range(7)]
    await bus.publish([event("ingest.track", c, s) for s in range(10) for c in customers])
    made = event("customer.created", "c1", 0)
    await bus.publish([made])

    assert await bus.drain() == 71
    assert {c: seen[c] for c in customers} == {c: list(range(10)) for c in customers}
    assert created == [made.id]
    assert len(bus.published) == 71


async def test_events_published_by_a_handler_reach_downstream_groups_in_the_same_drain() -> None:
    bus = InMemoryBus(inbox=InMemoryInbox())
    resolved: list[str] = []

    async def resolve(events: Sequence[CloudEvent]) -> None:
        await bus.publish(
            [event("customer.event.track", e.data["customer"], e.data["seq"]) for e in events]
        )

    async def project(events: Sequence[CloudEvent]) -> None:
        resolved.extend(e.data["customer"] for e in events)

    await bus.start(ConsumerSpec("profile.ingest", ("ingest.#",), resolve))
    await bus.start(ConsumerSpec("journey.events", ("customer.event.#",), project))
    await bus.publish([event("ingest.track", "ann", 1)])
    await bus.drain()
    assert resolved == ["ann"]


async def test_duplicate_ids_are_handled_once() -> None:
    bus = InMemoryBus(inbox=InMemoryInbox())
    calls: dict[str, int] = defaultdict(int)

    async def handler(events: Sequence[CloudEvent]) -> None:
        for e in events:
            calls[e.id] += 1

    await bus.start(ConsumerSpec("g", ("ingest.#",), handler))
    once = event("ingest.track", "bob", 1)
    await bus.publish([once, once])
    await bus.drain()
    await bus.publish([once])
    await bus.drain()
    assert calls == {once.id: 1}


async def test_a_poison_event_is_isolated_retried_parked_and_replayed() -> None:
    bus = InMemoryBus(shards=1, max_attempts=3, inbox=InMemoryInbox())
    fixed = False
    attempts: dict[str, int] = defaultdict(int)
    done: list[int] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        for e in events:
            attempts[e.id] += 1
            if e.data.get("poison") and not fixed:
                raise ValueError("bad order")
        done.extend(e.data["seq"] for e in events)

    await bus.start(ConsumerSpec("g", ("ingest.#",), handler))
    batch = [event("ingest.track", "cy", i, poison=(i == 2)) for i in range(5)]
    await bus.publish(batch)
    await bus.drain()

    assert done == [0, 1, 3, 4]
    [parked] = await bus.parked("g")
    assert parked.event.id == batch[2].id
    assert parked.attempts == 3
    assert parked.error == "ValueError: bad order"
    # One failed batch call, then three single attempts.
    assert attempts[batch[2].id] == 4

    fixed = True
    assert await bus.replay("g", ["unknown-id"]) == 0
    assert await bus.replay("g") == 1
    await bus.drain()
    assert done == [0, 1, 3, 4, 2]
    assert await bus.parked("g") == []


async def test_publish_and_ping_fail_with_bus_error_while_the_broker_is_down() -> None:
    bus = InMemoryBus()
    bus.broker_down = True
    with pytest.raises(BusError, match="unreachable"):
        await bus.publish([event("ingest.track", "d", 1)])
    with pytest.raises(BusError):
        await bus.ping()
    assert bus.published == []
    bus.broker_down = False
    await bus.publish([event("ingest.track", "d", 1)])
    assert len(bus.published) == 1


async def test_starting_a_consumer_without_an_inbox_is_a_configuration_error() -> None:
    async def handler(events: Sequence[CloudEvent]) -> None:
        return None

    with pytest.raises(ConfigurationError, match="inbox"):
        await InMemoryBus().start(ConsumerSpec("g", ("#",), handler))


async def test_autorun_processes_without_an_explicit_drain() -> None:
    bus = InMemoryBus(inbox=InMemoryInbox(), autorun=True)
    got: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        got.extend(e.id for e in events)

    await bus.start(ConsumerSpec("g", ("ingest.#",), handler))
    one = event("ingest.page", "e", 1)
    await bus.publish([one])
    await bus.close()  # waits for the background drain
    assert got == [one.id]
