"""RabbitMQ's own confirmed-publish rate (the ceiling) beside our Bus's, same broker, same run.

Both publish the same persistent CloudEvent bodies into the same kind of
topology a consumer group has (topic exchange → consistent-hash exchange →
``shards`` quorum queues), so the ratio shows the Bus's own overhead: spans,
headers, serialization and bookkeeping, not a different routing or durability.

usage: python -m bench.bus_ceiling [AMQP_URL] [--events 20000]
(without AMQP_URL a private RabbitMQ node is started for the run)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.bus.envelope import event_message
from shared.bus.rabbitmq import Bus
from shared.bus.topology import GroupNames, declare_events_exchange, declare_group
from shared.events import CloudEvent
from shared.settings import Settings

ROUTING_KEY = "ingest.track"


def sample_events(n: int, customers: int = 1000) -> list[CloudEvent]:
    """Events shaped like collected tracks (~600 bytes each), spread over customers."""
    return [
        CloudEvent(
            type=f"io.threadline.{ROUTING_KEY}",
            source="threadline/bench",
            partitionkey=f"anon-{i % customers}",
            data={
                "messageId": f"bench-{i}",
                "type": "track",
                "event": "product_viewed",
                "anonymousId": f"anon-{i % customers}",
                "channel": "web",
                "properties": {"product_id": f"sku-{i % 97}", "price": "19.99"},
                "context": {"page": {"path": "/products", "url": "https://shop.example/p"}},
                "timestamp": "2026-05-01T12:00:00.000Z",
            },
        )
        for i in range(n)
    ]


@asynccontextmanager
async def bench_topology(
    channel: AbstractChannel, exchange: str, shards: int
) -> AsyncIterator[AbstractExchange]:
    """A consumer group's topology without consumers; deleted afterwards."""
    events = await declare_events_exchange(channel, exchange)
    names = GroupNames(exchange, "bench", shards)
    await declare_group(channel, events, names, ("ingest.#",), retry_delay_ms=1000)
    try:
        yield events
    finally:
        for queue in [*names.shard_queues, names.retry, names.parked]:
            await channel.queue_delete(queue)
        await channel.exchange_delete(names.hash_exchange)
        await channel.exchange_delete(exchange)


async def rabbit_confirmed_publish_rate(
    amqp_url: str, n: int = 20000, concurrency: int = 500, shards: int = 4
) -> float:
    """Raw aio-pika: persistent messages, publisher confirms, ``concurrency`` in flight."""
    events = sample_events(n)
    messages = [event_message(event, event.headers()) for event in events]
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        async with bench_topology(channel, f"bench.{uuid.uuid4().hex[:8]}", shards) as exchange:
            started = time.perf_counter()
            for start in range(0, n, concurrency):
                window = messages[start : start + concurrency]
                await asyncio.gather(
                    *(exchange.publish(m, ROUTING_KEY, mandatory=False) for m in window)
                )
            elapsed = time.perf_counter() - started
    finally:
        await connection.close()
    return n / elapsed


async def bus_publish_rate(settings: Settings, n: int = 20000, batch: int = 500) -> float:
    """Our Bus: ``publish`` calls of ``batch`` events (one collection-API batch each)."""
    events = sample_events(n)
    settings = settings.model_copy(update={"exchange": f"bench.{uuid.uuid4().hex[:8]}"})
    admin = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await admin.channel()
        async with bench_topology(channel, settings.exchange, settings.shards):
            bus = await Bus.connect(settings, "threadline/bench")
            try:
                started = time.perf_counter()
                for start in range(0, n, batch):
                    await bus.publish(events[start : start + batch])
                elapsed = time.perf_counter() - started
            finally:
                await bus.close()
    finally:
        await admin.close()
    return n / elapsed


async def compare(amqp_url: str, n: int) -> tuple[float, float]:
    settings = Settings(amqp_url=amqp_url)
    await rabbit_confirmed_publish_rate(amqp_url, n=min(n, 2000))  # warm-up
    ceiling = await rabbit_confirmed_publish_rate(amqp_url, n=n)
    ours = await bus_publish_rate(settings, n)
    return ceiling, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("amqp_url", nargs="?")
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    node = None
    url = args.amqp_url
    if url is None:
        from threadline.devinfra import RabbitNode, free_port

        node = RabbitNode(
            Path(tempfile.mkdtemp(prefix="bench-rabbit-")), port=free_port(), dist_port=free_port()
        )
        node.start()
        url = node.url
    try:
        ceiling, ours = asyncio.run(compare(url, args.events))
    finally:
        if node is not None:
            node.stop()
    print(f"RabbitMQ confirmed publish (raw aio-pika): {ceiling:10,.0f} events/s")
    print(f"Threadline Bus.publish:                    {ours:10,.0f} events/s")
    print(f"ratio:                                     {ours / ceiling:10.0%}")


if __name__ == "__main__":
    main()
