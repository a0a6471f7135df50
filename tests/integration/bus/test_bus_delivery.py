"""The RabbitMQ bus against the real broker: envelope, order, dedupe, sharing."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Sequence

import aio_pika
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from shared.bus.in_memory import InMemoryInbox
from shared.bus.ports import ConsumerSpec
from shared.errors import BusError
from shared.events import CONTENT_TYPE, CloudEvent
from shared.telemetry import setup_tracing
from tests.integration.bus.bus_helpers import ConnectBus, bus_settings, track, unique, wait_until

pytestmark = pytest.mark.integration

TRACK = "io.threadline.ingest.track"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing("threadline-test", extra_processors=(SimpleSpanProcessor(exporter),))
    return exporter


async def test_confirmed_event_arrives_with_ce_headers_and_trace_context(
    infra, connect_bus: ConnectBus, spans: InMemorySpanExporter
) -> None:
    settings = bus_settings(infra)
    bus = await connect_bus(settings)
    received: list[CloudEvent] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        received.extend(events)

    group = unique("roundtrip")
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    # A plain queue on the topic exchange shows the wire format.
    connection = await aio_pika.connect(infra.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.exchange)
        raw = await channel.declare_queue("", exclusive=True)
        await raw.bind(exchange, "ingest.#")

        event = CloudEvent(
            type="io.threadline.ingest.track",
            source="threadline/test",
            data={"event": "order_completed", "money": {"revenue": "12.50"}},
            partitionkey="anon-1",
            subject="cust-1",
        )
        with trace.get_tracer("test").start_as_current_span("POST /v1/track") as http:
            await bus.publish([event])
        trace_id = http.get_span_context().trace_id

        message = await raw.get(timeout=5)
        await message.ack()
    finally:
        await connection.close()

    headers = message.headers
    assert message.body == event.to_json()
    assert message.content_type == CONTENT_TYPE
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == event.id
    assert message.routing_key == "ingest.track"
    assert headers["ce-id"] == event.id
    assert headers["ce-type"] == "io.threadline.ingest.track"
    assert headers["ce-partitionkey"] == "anon-1"
    assert headers["ce-subject"] == "cust-1"
    assert str(headers["traceparent"]).split("-")[1] == format(trace_id, "032x")

    await wait_until(lambda: len(received) == 1, what="the consumer to get the event")
    assert received[0].id == event.id
    assert received[0].data == event.data
    assert received[0].partitionkey == "anon-1"

    def consumer_spans() -> list[object]:
        return [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]

    await wait_until(lambda: bool(consumer_spans()), what="the consumer span to end")
    producer = next(s for s in spans.get_finished_spans() if s.name == "publish ingest.track")
    consumed = next(
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.CONSUMER
        and (s.attributes or {}).get("messaging.message.id") == event.id
    )
    assert producer.kind == SpanKind.PRODUCER
    assert producer.context.trace_id == trace_id
    assert consumed.context.trace_id == trace_id
    assert consumed.parent is not None
    assert consumed.parent.span_id == producer.context.span_id
    # The handler sees the consumer span as the event's trace parent, to pass on.
    assert received[0].traceparent is not None
    assert received[0].traceparent.split("-")[2] == format(consumed.context.span_id, "016x")


async def test_each_customers_events_are_handled_in_order_across_shards(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra, batch_size=20)
    seen: dict[str, list[int]] = defaultdict(list)

    async def handler(events: Sequence[CloudEvent]) -> None:
        await asyncio.sleep(random.random() / 200)  # shards race each other
        for event in events:
            seen[event.data["customer"]].append(event.data["seq"])

    group = unique("order")
    # Two processes' worth of consumers on one group: one active per shard.
    for _ in range(2):
        bus = await connect_bus(settings)
        await bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    publisher = await connect_bus(settings)

    customers = [f"customer-{i}" for i in range(40)]
    per_customer = 30
    interleaved = [track(c, seq) for seq in range(per_customer) for c in customers]
    for start in range(0, len(interleaved), 150):
        await publisher.publish(interleaved[start : start + 150])

    total = len(customers) * per_customer
    await wait_until(lambda: sum(map(len, seen.values())) >= total, what="all events handled")
    assert set(seen) == set(customers)
    for customer in customers:
        assert seen[customer] == list(range(per_customer)), customer


async def test_duplicate_event_ids_have_no_second_effect(infra, connect_bus: ConnectBus) -> None:
    settings = bus_settings(infra)
    effects: dict[str, int] = defaultdict(int)

    async def handler(events: Sequence[CloudEvent]) -> None:
        for event in events:
            effects[event.id] += 1

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(unique("dedupe"), ("ingest.#",), handler))

    first = track("alice", 1)
    second = track("alice", 2)
    await bus.publish([first, first, second])  # a duplicate inside one batch
    await wait_until(lambda: second.id in effects, what="the first round")
    await bus.publish([first])  # a redelivery of an already processed event
    await bus.publish([second])
    sentinel = track("alice", 3)  # same shard: handled after the duplicates
    await bus.publish([sentinel])
    await wait_until(lambda: sentinel.id in effects, what="the sentinel")

    assert effects == {first.id: 1, second.id: 1, sentinel.id: 1}


async def test_topology_is_idempotent_and_a_second_bus_shares_the_group(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra)
    group = unique("shared")
    handled: list[tuple[int, str]] = []

    def handler_for(worker: int):
        async def handler(events: Sequence[CloudEvent]) -> None:
            handled.extend((worker, event.id) for event in events)

        return handler

    # Separate inboxes: only the queues (not dedupe) can keep each event single.
    first = await connect_bus(settings, with_inbox=InMemoryInbox())
    await first.start(ConsumerSpec(group, ("ingest.#",), handler_for(1)))
    second = await connect_bus(settings, with_inbox=InMemoryInbox())
    await second.start(ConsumerSpec(group, ("ingest.#", "ingest.track"), handler_for(2)))

    events = [track(f"c{i % 17}", i) for i in range(300)]
    await second.publish(events)
    await wait_until(lambda: len(handled) >= 300, what="all events")
    await asyncio.sleep(0.3)  # a second copy would arrive right behind
    assert sorted(event_id for _, event_id in handled) == sorted(e.id for e in events)


async def test_redeclaring_a_group_with_other_shard_count_says_how_to_fix_it(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra)
    group = unique("reshard")

    async def handler(events: Sequence[CloudEvent]) -> None:
        return None

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    other = await connect_bus(bus_settings(infra, exchange=settings.exchange, retry_delay_ms=999))
    with pytest.raises(BusError, match="other arguments"):
        await other.start(ConsumerSpec(group, ("ingest.#",), handler))
    # The publisher channel survived: the first bus still works.
    await bus.publish([track("x", 1)])


async def test_metrics_count_publishes_and_each_consumer_outcome(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra, max_attempts=2, retry_delay_ms=50)
    group = unique("metrics")

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    published_before = sample("threadline_bus_published_events_total", type=TRACK)

    async def handler(events: Sequence[CloudEvent]) -> None:
        if any(event.data.get("poison") for event in events):
            raise RuntimeError("poison")

    bus = await connect_bus(settings)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    good = [track("m1", 1), track("m2", 2)]
    poison = track("m3", 3, poison=True)
    await bus.publish([*good, poison])
    await wait_until(
        lambda: (
            sample("threadline_bus_consumed_events_total", consumer=group, outcome="parked") == 1
        ),
        what="the poison to be parked",
    )
    await bus.publish([good[0]])
    await wait_until(
        lambda: (
            sample("threadline_bus_consumed_events_total", consumer=group, outcome="duplicate") == 1
        ),
        what="the duplicate to be dropped",
    )

    assert sample("threadline_bus_published_events_total", type=TRACK) - published_before == 4
    assert sample("threadline_bus_consumed_events_total", consumer=group, outcome="processed") == 2
    assert sample("threadline_bus_consumed_events_total", consumer=group, outcome="retried") == 1
    assert sample("threadline_bus_batch_size_count", consumer=group) >= 2
    assert sample("threadline_bus_handler_batch_seconds_count", consumer=group) >= 3


async def test_close_lets_the_batch_in_flight_finish_and_acks_it(
    infra, connect_bus: ConnectBus
) -> None:
    settings = bus_settings(infra, shards=1)
    group = unique("graceful")
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(events: Sequence[CloudEvent]) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.extend(event.id for event in events)

    first = await connect_bus(settings, with_inbox=InMemoryInbox())
    await first.start(ConsumerSpec(group, ("ingest.#",), slow))
    event = track("g", 1)
    await first.publish([event])
    await asyncio.wait_for(started.wait(), timeout=10)
    await first.close()
    assert finished == [event.id]

    # Acked before the close: a fresh consumer (fresh inbox) gets nothing again.
    again: list[str] = []

    async def record(events: Sequence[CloudEvent]) -> None:
        again.extend(e.id for e in events)

    second = await connect_bus(settings, with_inbox=InMemoryInbox())
    await second.start(ConsumerSpec(group, ("ingest.#",), record))
    sentinel = track("g", 2)
    await second.publish([sentinel])
    await wait_until(lambda: sentinel.id in again, what="the sentinel")
    assert again == [sentinel.id]
