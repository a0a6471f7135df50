"""The messaging port: what handlers and entrypoints may ask of the bus.

``shared.bus.rabbitmq`` implements it on RabbitMQ (aio-pika); ``InMemoryBus`` in
``shared.bus.in_memory`` implements it for unit tests of pure handler logic.

Delivery is at least once. A consumer's handler receives a batch of events in
shard order (one shard queue per customer key hash, one active consumer per
shard), already filtered against the consumer's inbox of processed event ids.
It must finish its writes and confirmed publishes before it returns; the bus
then records the ids as processed and acks. When a batch fails, the bus retries
its events one by one to isolate the poison message; a failing event is retried
``max_attempts`` times with a delay, then parked with its error.

A message may be an envelope carrying several events (the collector's
``ingest.batch``): a consumer that names an ``unpack`` function receives the
carried events instead, and every guarantee above holds per carried event —
inbox dedupe by its own id, isolation, retries and parking of that event alone,
so one bad event never takes its neighbours down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.events import CloudEvent, format_time

BatchHandler = Callable[[Sequence[CloudEvent]], Awaitable[None]]
Unpack = Callable[[CloudEvent], Sequence[CloudEvent]]
"""The events a delivered message carries (itself, or an envelope's members).

Raises ``ValidationError`` for a malformed envelope, which is then retried and
parked whole like a failing event."""


class Publisher(Protocol):
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish persistently; returns once the broker confirmed every event.

        Raises ``BusError`` when the broker is unreachable or refuses an event.
        """


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A consumer group: its name, the routing-key patterns it binds, its handler.

    ``unpack`` (optional) opens envelopes so each carried event is handled,
    deduplicated, retried and parked on its own.
    """

    name: str
    bindings: tuple[str, ...]
    handler: BatchHandler
    unpack: Unpack | None = None


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """An event that exhausted its retries, with the reason it failed."""

    consumer: str
    event: CloudEvent
    error: str
    attempts: int
    parked_at: datetime

    def describe(self) -> dict[str, Any]:
        """As JSON for operators (the admin route and ``threadline parked list``)."""
        event = self.event
        return {
            "consumer": self.consumer,
            "id": event.id,
            "type": event.type,
            "source": event.source,
            "time": format_time(event.time),
            "partitionkey": event.partitionkey,
            "data": event.data,
            "error": self.error,
            "attempts": self.attempts,
            "parkedAt": format_time(self.parked_at),
        }


class Consumers(Protocol):
    async def start(self, spec: ConsumerSpec) -> None:
        """Declare the consumer's topology (idempotently) and start consuming."""

    async def parked(self, consumer: str, limit: int = 100) -> list[ParkedMessage]:
        """The consumer's parked events, oldest first, without removing them.

        Raises ``ValidationError`` when no consumer group of that name exists.
        """

    async def replay(self, consumer: str, event_ids: Sequence[str] | None = None) -> int:
        """Send parked events (all, or those named) back to the consumer; returns how many.

        Raises ``ValidationError`` when no consumer group of that name exists.
        """


class Inbox(Protocol):
    """Which event ids a consumer has already processed (its idempotency record)."""

    async def unseen(self, consumer: str, event_ids: Sequence[str]) -> set[str]: ...

    async def mark(self, consumer: str, event_ids: Sequence[str]) -> None: ...
