"""``threadline parked list|replay``: the parked messages of a consumer group, from a shell.

Talks to RabbitMQ directly (``THREADLINE_AMQP_URL``, ``THREADLINE_EXCHANGE``), so
it works while the services are down; the profile API offers the same over HTTP
(``/v1/admin/parked``) for operators without broker access.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import orjson

from shared.bus.rabbitmq import Bus
from shared.settings import Settings


def list_parked(consumer: str, limit: int, settings: Settings | None = None) -> int:
    """Print the group's parked events as JSON lines, oldest first; they stay parked."""

    async def run() -> int:
        bus = await Bus.connect(settings or Settings(), source="threadline/cli")
        try:
            found = await bus.parked(consumer, limit)
        finally:
            await bus.close()
        for parked in found:
            sys.stdout.write(orjson.dumps(parked.describe()).decode() + "\n")
        sys.stderr.write(f"{len(found)} parked event(s) in {consumer}\n")
        return 0

    return asyncio.run(run())


def replay_parked(
    consumer: str, event_ids: Sequence[str] | None, settings: Settings | None = None
) -> int:
    """Send the named parked events (all when ``event_ids`` is None) back to the group."""

    async def run() -> int:
        bus = await Bus.connect(settings or Settings(), source="threadline/cli")
        try:
            replayed = await bus.replay(consumer, event_ids)
        finally:
            await bus.close()
        sys.stdout.write(f"replayed {replayed} parked event(s) of {consumer}\n")
        if event_ids is not None and replayed < len(set(event_ids)):
            sys.stderr.write(
                f"{len(set(event_ids)) - replayed} of the named id(s) were not parked in "
                f"{consumer}; list them with: threadline parked list {consumer}\n"
            )
            return 1
        return 0

    return asyncio.run(run())
