"""The parking queue of a consumer group: list parked events, replay them.

Browsing is ``basic.get`` without ack on a private channel; closing the channel
returns what was only looked at. A quorum queue applies those returns a moment
later, so each browse waits until they are back: a ``parked()`` right after a
``replay()`` then sees every event still parked. A group name that has no
parking queue is answered with a ``ValidationError`` naming it; nothing is
declared for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from shared.bus.envelope import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    PARKED_AT_HEADER,
    attempts_of,
    copy_message,
    decode,
    error_of,
    parked_at_of,
    placeholder_event,
)
from shared.bus.ports import ParkedMessage
from shared.bus.topology import HASH_EXCHANGE_TYPE, GroupNames
from shared.errors import ValidationError
from shared.events import PARTITION_HEADER

log = logging.getLogger("threadline.bus")

Send = Callable[[str, str, aio_pika.Message], Awaitable[None]]


@dataclass
class _Browse:
    queue: AbstractQueue
    ready: int
    removed: int = 0


class ParkingLot:
    """Parked events of every consumer group on one connection."""

    def __init__(
        self, connection: AbstractRobustConnection, send: Send, exchange: str, timeout: float
    ) -> None:
        self._connection = connection
        self._send = send
        self._exchange = exchange
        self._timeout = timeout

    async def list(self, consumer: str, limit: int) -> list[ParkedMessage]:
        found: list[ParkedMessage] = []
        async with self._browse(self._names(consumer)) as browse:
            for _ in range(min(browse.ready, limit)):
                message = await browse.queue.get(no_ack=False, fail=False, timeout=self._timeout)
                if message is None:
                    break
                try:
                    event = decode(message)
                except ValidationError as exc:
                    event = placeholder_event(message, exc)
                found.append(
                    ParkedMessage(
                        consumer=consumer,
                        event=event,
                        error=error_of(message),
                        attempts=attempts_of(message),
                        parked_at=parked_at_of(message),
                    )
                )
        return sorted(found, key=lambda parked: parked.parked_at)

    async def replay(self, consumer: str, event_ids: Sequence[str] | None) -> int:
        wanted = set(event_ids) if event_ids is not None else None
        names = self._names(consumer)
        async with self._browse(names) as browse:
            for _ in range(browse.ready):
                message = await browse.queue.get(no_ack=False, fail=False, timeout=self._timeout)
                if message is None:
                    break
                if wanted is not None and message.message_id not in wanted:
                    continue  # left unacked: back in the parking queue on close
                copy = copy_message(
                    message, set_headers={}, drop=(ATTEMPTS_HEADER, ERROR_HEADER, PARKED_AT_HEADER)
                )
                # Confirmed into the shards before it leaves the parking queue.
                await self._send(names.hash_exchange, message.type or "replay", copy)
                await message.ack()
                browse.removed += 1
        log.info("replayed %d parked event(s) of consumer %s", browse.removed, consumer)
        return browse.removed

    def _names(self, consumer: str) -> GroupNames:
        return GroupNames(self._exchange, consumer, shards=0)

    @asynccontextmanager
    async def _browse(self, names: GroupNames) -> AsyncIterator[_Browse]:
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            try:
                # Passive: a mistyped group name must not leave queues behind.
                queue = await channel.declare_queue(names.parked, passive=True, robust=False)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                raise ValidationError(
                    {
                        "consumer": f"no consumer group named {names.consumer!r} exists on "
                        f"exchange {names.exchange!r} (no queue {names.parked}); name a group "
                        "that has run, e.g. profile.ingest, journey.events or scoring.events"
                    }
                ) from None
            # Declared here too, so replay never publishes to a missing exchange
            # (which would close the shared publisher channel).
            await channel.declare_exchange(
                names.hash_exchange,
                HASH_EXCHANGE_TYPE,
                durable=True,
                arguments={"hash-header": PARTITION_HEADER},
                robust=False,
            )
            browse = _Browse(queue, int(queue.declaration_result.message_count or 0))
            yield browse
        finally:
            if not channel.is_closed:
                await channel.close()
        await self._settle(names, browse.ready - browse.removed)

    async def _settle(self, names: GroupNames, expected: int) -> None:
        """Wait (bounded) until the messages we only looked at are ready again."""
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            deadline = time.monotonic() + self._timeout
            while time.monotonic() < deadline:
                queue = await channel.declare_queue(names.parked, passive=True, robust=False)
                if int(queue.declaration_result.message_count or 0) >= expected:
                    return
                await asyncio.sleep(0.02)
            log.debug("parking queue %s did not settle to %d messages", names.parked, expected)
        finally:
            await channel.close()
