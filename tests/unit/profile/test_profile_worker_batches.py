"""The profile consumer opens ingest.batch messages; every inner event is deduplicated,
retried and parked on its own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.ports import ProfileWrites
from services.profile.ingest import BATCH_TYPE, grouped
from services.profile.worker import CONSUMER, ingest_consumer
from shared.bus.in_memory import InMemoryBus, InMemoryInbox
from shared.bus.ports import ConsumerSpec
from shared.errors import StorageError
from shared.events import CloudEvent
from tests.unit.profile.profile_events import at, segment

SOURCE = "src00001"


class Downstream:
    """A consumer of resolved events behind its own inbox, like journey and scoring."""

    def __init__(self) -> None:
        self.handled: Counter[str] = Counter()
        self.order: list[str] = []

    async def handle(self, batch: Sequence[CloudEvent]) -> None:
        for event in batch:
            self.handled[event.data["ingestId"]] += 1
            self.order.append(event.data["messageId"])


async def wired() -> tuple[InMemoryBus, InMemoryProfileStore, Downstream]:
    bus = InMemoryBus(inbox=InMemoryInbox(), max_attempts=3)
    store = InMemoryProfileStore()
    downstream = Downstream()
    await bus.start(ingest_consumer(store, bus))
    await bus.start(ConsumerSpec("journey.events", ("customer.event.#",), downstream.handle))
    return bus, store, downstream


def pages(anonymous_id: str, *message_ids: str) -> list[CloudEvent]:
    return [
        segment("page", m, anonymousId=anonymous_id, name=m, timestamp=at(10, i))
        for i, m in enumerate(message_ids)
    ]


async def test_a_batch_message_is_resolved_event_by_event_in_order() -> None:
    bus, store, downstream = await wired()
    events = pages("device-1", "m1", "m2", "m3")
    [message] = grouped(events, SOURCE)
    assert message.type == BATCH_TYPE

    await bus.publish([message])
    await bus.drain()

    assert set(store.event_docs) == {e.id for e in events}
    assert len(store.customer_docs) == 1
    assert downstream.order == ["m1", "m2", "m3"]


async def test_a_batch_retried_with_another_composition_has_no_second_effect() -> None:
    bus, store, downstream = await wired()
    first = pages("device-1", "m1", "m2")
    second = pages("device-1", "m2", "m3")  # the SDK re-sent m2 with a new event
    await bus.publish(grouped(first, SOURCE))
    await bus.drain()
    await bus.publish(grouped(second, SOURCE))
    await bus.publish(grouped(first, SOURCE))  # and the identical first batch again
    await bus.drain()

    assert set(store.event_docs) == {e.id for e in (*first, second[1])}
    assert len(store.customer_docs) == 1
    assert dict(downstream.handled) == {e.id: 1 for e in (*first, second[1])}
    assert await bus.parked(CONSUMER) == []


async def test_the_same_event_in_two_batches_of_one_delivery_is_handled_once() -> None:
    bus, store, downstream = await wired()
    [a] = grouped(pages("device-1", "m1", "m2"), SOURCE)
    [b] = grouped(pages("device-1", "m2", "m3"), SOURCE)
    await bus.publish([a, b])
    await bus.drain()
    assert downstream.order == ["m1", "m2", "m3"]
    assert len(store.event_docs) == 3


async def test_a_malformed_inner_event_parks_the_whole_batch_with_the_reason() -> None:
    bus, store, downstream = await wired()
    [message] = grouped(pages("device-1", "m1", "m2"), SOURCE)
    broken = [dict(message.data["events"][0]), {**message.data["events"][1], "type": ""}]
    poison = replace(message, id="poison", data={"events": broken})
    healthy = pages("device-2", "ok")

    await bus.publish([poison, *healthy])
    await bus.drain()

    [parked] = await bus.parked(CONSUMER)
    assert parked.event.id == "poison"
    assert "data.events[1].type" in parked.error
    assert parked.attempts == 3
    assert store.event_docs.keys() == {healthy[0].id}  # nothing of the poison batch
    assert downstream.order == ["ok"]


async def test_an_inner_event_of_another_partition_key_is_refused() -> None:
    bus, store, _ = await wired()
    [message] = grouped(pages("device-1", "m1", "m2"), SOURCE)
    stranger = pages("device-9", "x")[0].to_dict()
    await bus.publish([replace(message, data={"events": [*message.data["events"], stranger]})])
    await bus.drain()
    [parked] = await bus.parked(CONSUMER)
    assert "partitionkey" in parked.error
    assert store.event_docs == {}


class RefusingStore(InMemoryProfileStore):
    """A store that cannot hold one event (as MongoDB refuses a key with a NUL byte)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    async def save(self, writes: ProfileWrites) -> None:
        if any(event.id == self.refused for event in writes.events):
            raise StorageError(f"cannot store event {self.refused}")
        await super().save(writes)


async def test_an_event_the_store_refuses_is_parked_alone_and_its_batch_neighbours_are_stored() -> (
    None
):
    events = pages("device-1", *(f"m{i}" for i in range(6)))
    bad = events[3]
    bus = InMemoryBus(inbox=InMemoryInbox(), max_attempts=3)
    store = RefusingStore(bad.id)
    await bus.start(ingest_consumer(store, bus))
    [message] = grouped(events, SOURCE)

    await bus.publish([message])
    await bus.drain()

    assert set(store.event_docs) == {e.id for e in events if e is not bad}
    [parked] = await bus.parked(CONSUMER)
    assert parked.event.id == bad.id  # the event alone, not its envelope
    assert parked.event.data == bad.data
    assert parked.attempts == 3
    assert f"cannot store event {bad.id}" in parked.error

    store.refused = ""  # the operator fixed the cause
    assert await bus.replay(CONSUMER, [bad.id]) == 1
    await bus.drain()
    assert set(store.event_docs) == {e.id for e in events}
    assert await bus.parked(CONSUMER) == []


async def test_a_message_id_resent_inside_a_batch_is_dropped_like_a_resent_single_event() -> None:
    bus, store, downstream = await wired()
    first = segment("identify", "i-1", anonymousId="device-1", traits={"plan": "gold"})
    await bus.publish([first])  # sent alone: no envelope
    await bus.drain()

    resent = segment("identify", "i-1", anonymousId="device-1", traits={"plan": "platinum"})
    later = pages("device-1", "p-1")
    [message] = grouped([resent, *later], SOURCE)
    assert message.type == BATCH_TYPE
    await bus.publish([message])
    await bus.drain()

    [customer] = store.customer_docs.values()
    assert customer.traits["plan"].value == "gold"
    assert store.event_docs[first.id].data["traits"] == {"plan": "gold"}
    assert dict(downstream.handled) == {first.id: 1, later[0].id: 1}
