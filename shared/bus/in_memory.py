"""In-memory twins of the messaging ports, for unit tests of handlers and entrypoints.

``InMemoryBus`` keeps the semantics of :mod:`shared.bus.ports` — topic
bindings, per-key shards processed in order, envelopes unpacked, inbox
dedupe, batch failure isolated event by event, bounded retries, parking and replay — minus
durability and the retry delay. Nothing runs in the background unless
``autorun=True``: tests call :meth:`InMemoryBus.drain` to process everything
pending (including events the handlers publish) deterministically.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.bus.ports import ConsumerSpec, Inbox, ParkedMessage
from shared.errors import BusError, ConfigurationError, ValidationError
from shared.events import CloudEvent


class InMemoryInbox:
    """The inbox port in a dict; ``marked`` counts how often each id was recorded."""

    def __init__(self) -> None:
        self.processed: dict[str, set[str]] = {}

    async def unseen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        seen = self.processed.get(consumer, set())
        return {event_id for event_id in event_ids if event_id not in seen}

    async def mark(self, consumer: str, event_ids: Sequence[str]) -> None:
        self.processed.setdefault(consumer, set()).update(event_ids)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


@dataclass
class _Delivery:
    event: CloudEvent
    attempts: int = 0
    error: str = ""


@dataclass
class _Group:
    spec: ConsumerSpec
    inbox: Inbox
    shards: list[deque[_Delivery]]
    parked: list[ParkedMessage] = field(default_factory=list)


class InMemoryBus:
    """Publisher and Consumers in memory (see the module docstring)."""

    def __init__(
        self,
        *,
        shards: int = 4,
        batch_size: int = 200,
        max_attempts: int = 5,
        inbox: Inbox | None = None,
        autorun: bool = False,
        source: str = "threadline/test",
    ) -> None:
        self.source = source
        self.published: list[CloudEvent] = []
        self.broker_down = False
        """Set to True to make publish() and ping() fail as with an unreachable broker."""
        self._shards = shards
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._inbox = inbox
        self._autorun = autorun
        self._groups: dict[str, _Group] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[int]] = set()

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        if self.broker_down:
            raise BusError("RabbitMQ is unreachable (in-memory bus marked down); retry later")
        for event in events:
            self.published.append(event)
            for group in self._groups.values():
                if any(topic_matches(p, event.routing_key) for p in group.spec.bindings):
                    group.shards[self._shard_of(event)].append(_Delivery(event))
        if self._autorun and events:
            task = asyncio.create_task(self.drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def start(self, spec: ConsumerSpec, *, inbox: Inbox | None = None) -> None:
        inbox = inbox or self._inbox
        if inbox is None:
            raise ConfigurationError(f"consumer {spec.name!r} needs an inbox")
        if spec.name not in self._groups:
            shards: list[deque[_Delivery]] = [deque() for _ in range(self._shards)]
            self._groups[spec.name] = _Group(spec, inbox, shards)

    async def drain(self) -> int:
        """Process everything pending until no consumer has work; returns events handled."""
        handled = 0
        async with self._lock:
            while True:
                progressed = False
                for group in list(self._groups.values()):
                    for shard in group.shards:
                        if shard:
                            batch = [
                                shard.popleft() for _ in range(min(len(shard), self._batch_size))
                            ]
                            handled += await self._process(group, shard, batch)
                            progressed = True
                if not progressed:
                    return handled

    async def _process(self, group: _Group, shard: deque[_Delivery], batch: list[_Delivery]) -> int:
        name = group.spec.name
        if group.spec.unpack is not None:
            batch = self._unpacked(group, shard, batch)
        fresh = await self._unseen(group, batch)
        if not fresh:
            return 0
        error = await self._call(group, fresh)
        if error is None:
            await group.inbox.mark(name, [d.event.id for d in fresh])
            return len(fresh)
        if len(fresh) == 1:
            self._retry_or_park(group, shard, fresh[0], error)
            return 0
        # Isolate the poison: the others go through one by one, in order.
        handled = 0
        for delivery in fresh:
            error = await self._call(group, [delivery])
            if error is None:
                await group.inbox.mark(name, [delivery.event.id])
                handled += 1
            else:
                self._retry_or_park(group, shard, delivery, error)
        return handled

    @staticmethod
    async def _unseen(group: _Group, batch: list[_Delivery]) -> list[_Delivery]:
        """The deliveries whose events the group has not handled yet, each event once."""
        unseen = await group.inbox.unseen(group.spec.name, [d.event.id for d in batch])
        fresh: list[_Delivery] = []
        for delivery in batch:
            if delivery.event.id in unseen:
                unseen.discard(delivery.event.id)  # a second copy in the batch is a duplicate
                fresh.append(delivery)
        return fresh

    @staticmethod
    async def _call(group: _Group, deliveries: list[_Delivery]) -> str | None:
        """Run the group's handler; the error it raised, or None when it succeeded."""
        try:
            await group.spec.handler([d.event for d in deliveries])
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _unpacked(
        self, group: _Group, shard: deque[_Delivery], batch: list[_Delivery]
    ) -> list[_Delivery]:
        """Every carried event as a delivery of its own, with its envelope's attempts."""
        assert group.spec.unpack is not None
        out: list[_Delivery] = []
        for delivery in batch:
            try:
                carried = group.spec.unpack(delivery.event)
            except ValidationError as exc:
                self._retry_or_park(group, shard, delivery, f"ValidationError: {exc}")
                continue
            out.extend(_Delivery(event, delivery.attempts, delivery.error) for event in carried)
        return out

    def _retry_or_park(
        self, group: _Group, shard: deque[_Delivery], delivery: _Delivery, error: str
    ) -> None:
        attempts = delivery.attempts + 1
        if attempts >= self._max_attempts:
            group.parked.append(
                ParkedMessage(group.spec.name, delivery.event, error, attempts, datetime.now(UTC))
            )
        else:
            shard.append(_Delivery(delivery.event, attempts, error))

    async def parked(self, consumer: str, limit: int = 100) -> list[ParkedMessage]:
        return list(self._group(consumer).parked[:limit])

    async def replay(self, consumer: str, event_ids: Sequence[str] | None = None) -> int:
        group = self._group(consumer)
        wanted = set(event_ids) if event_ids is not None else None
        keep: list[ParkedMessage] = []
        moved = 0
        for parked in group.parked:
            if wanted is None or parked.event.id in wanted:
                group.shards[self._shard_of(parked.event)].append(_Delivery(parked.event))
                moved += 1
            else:
                keep.append(parked)
        group.parked = keep
        return moved

    async def ping(self) -> None:
        if self.broker_down:
            raise BusError("RabbitMQ is unreachable (in-memory bus marked down)")

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _group(self, consumer: str) -> _Group:
        group = self._groups.get(consumer)
        if group is None:
            raise ValidationError(
                {"consumer": f"no consumer group named {consumer!r} was started on this bus"}
            )
        return group

    def _shard_of(self, event: CloudEvent) -> int:
        return zlib.crc32(event.shard_key.encode()) % self._shards
