"""A consumer process for the kill -9 test: applies each event to MongoDB exactly once in effect.

Usage: python crash_worker.py AMQP_URL MONGODB_URL EXCHANGE GROUP DATABASE

Each event appends its seq to its customer's document, guarded by the event id
in the same atomic update, so a redelivered event can never apply twice. The
``deliveries`` collection counts every handler call (redeliveries included).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from pymongo.errors import DuplicateKeyError

from shared.bus.inbox import MongoInbox
from shared.bus.ports import ConsumerSpec
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from shared.mongo import Mongo
from shared.settings import Settings


async def main(amqp_url: str, mongodb_url: str, exchange: str, group: str, database: str) -> None:
    settings = Settings(
        amqp_url=amqp_url,
        mongodb_url=mongodb_url,
        exchange=exchange,
        shards=4,
        prefetch=64,
        batch_size=25,
        batch_linger_ms=5,
    )
    mongo = Mongo(mongodb_url)
    db = mongo.database(database)
    inbox = MongoInbox(db)
    await inbox.ensure_indexes()

    async def handler(events: Sequence[CloudEvent]) -> None:
        for event in events:
            customer, seq = event.data["customer"], event.data["seq"]
            await db["deliveries"].update_one({"_id": "all"}, {"$inc": {"n": 1}}, upsert=True)
            # A DuplicateKeyError means already applied: the guard matched no
            # document and the upsert collided with the existing one.
            with contextlib.suppress(DuplicateKeyError):
                await db["effects"].update_one(
                    {"_id": customer, "events": {"$ne": event.id}},
                    {"$push": {"events": event.id, "seqs": seq}, "$inc": {"applied": 1}},
                    upsert=True,
                )

    bus = await Bus.connect(settings, "threadline/crash-worker", inbox=inbox)
    await bus.start(ConsumerSpec(group, ("ingest.#",), handler))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await bus.close()
    await mongo.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
