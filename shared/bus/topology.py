"""The RabbitMQ topology of a consumer group, declared idempotently.

::

    threadline.events (topic) --binding patterns--> <exchange>.<consumer>.hash
        (x-consistent-hash on header ce-partitionkey)
            --weight "1"--> <consumer>.shard.0 .. <consumer>.shard.N-1   (quorum, SAC)
    <consumer>.retry  (TTL = retry delay, dead-letters back to the hash exchange)
    <consumer>.parked (quorum; inspected and replayed through the Bus)

One customer's events always hash to the same shard, and a shard has one
active consumer, which is what keeps per-customer order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from shared.events import PARTITION_HEADER

HASH_EXCHANGE_TYPE = "x-consistent-hash"


@dataclass(frozen=True, slots=True)
class GroupNames:
    """The names of one consumer group's exchanges and queues.

    Every name starts with the events exchange's, so two deployments sharing a
    vhost with different ``THREADLINE_EXCHANGE`` values never share a queue.
    """

    exchange: str
    consumer: str
    shards: int

    @property
    def hash_exchange(self) -> str:
        return f"{self.exchange}.{self.consumer}.hash"

    def shard(self, index: int) -> str:
        return f"{self.exchange}.{self.consumer}.shard.{index}"

    @property
    def shard_queues(self) -> list[str]:
        return [self.shard(i) for i in range(self.shards)]

    @property
    def retry(self) -> str:
        return f"{self.exchange}.{self.consumer}.retry"

    @property
    def parked(self) -> str:
        return f"{self.exchange}.{self.consumer}.parked"


SHARD_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum", "x-single-active-consumer": True}
PARKED_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


def retry_arguments(names: GroupNames, delay_ms: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": names.hash_exchange,
        # At-least-once dead-lettering: a retried event is never lost between
        # the retry queue and its shard (needs reject-publish overflow).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_events_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)


async def declare_group(
    channel: AbstractChannel,
    events: AbstractExchange,
    names: GroupNames,
    bindings: tuple[str, ...],
    retry_delay_ms: int,
) -> list[AbstractQueue]:
    """Declare (or re-declare) everything a consumer group needs; returns its shard queues."""
    hashed = await channel.declare_exchange(
        names.hash_exchange,
        HASH_EXCHANGE_TYPE,
        durable=True,
        arguments={"hash-header": PARTITION_HEADER},
    )
    for pattern in bindings:
        await hashed.bind(events, routing_key=pattern)
    shards = []
    for name in names.shard_queues:
        queue = await channel.declare_queue(name, durable=True, arguments=SHARD_ARGUMENTS)
        # The routing key of a consistent-hash binding is its weight.
        await queue.bind(hashed, routing_key="1")
        shards.append(queue)
    await channel.declare_queue(
        names.retry, durable=True, arguments=retry_arguments(names, retry_delay_ms)
    )
    await channel.declare_queue(names.parked, durable=True, arguments=PARKED_ARGUMENTS)
    return shards
