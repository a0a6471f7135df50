"""A profile worker process for the merge race: resolves its share of events concurrently.

Usage: python merge_race_worker.py MONGODB_URL AMQP_URL EXCHANGE DATABASE EVENTS_FILE LIMITS_JSON

Reads its ingest events (CloudEvents JSON, one per line), connects to the real
MongoDB and RabbitMQ, prints ``ready`` and waits for a line on stdin so that all
workers start at once; then hands every event to ``handle_ingested`` at the same
time (one delivery each, retried as the bus retries a failed one) and prints
``done``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from services.profile.adapters.mongo import MongoProfileStore
from services.profile.adapters.ports import IdentityConflictError, MergeConflictError
from services.profile.domain.resolution_rules import ResolutionRules
from services.profile.handlers import handle_ingested
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from shared.mongo import Mongo
from shared.settings import Settings

BUS_ATTEMPTS = 5


async def main(
    mongodb_url: str, amqp_url: str, exchange: str, database: str, events: str, limits: str
) -> None:
    settings = Settings(mongodb_url=mongodb_url, amqp_url=amqp_url, exchange=exchange)
    rules = ResolutionRules.of(limits=json.loads(limits))
    lines = Path(events).read_text().splitlines()  # noqa: ASYNC240 - before any task runs
    batch = [CloudEvent.from_json(line.encode()) for line in lines]
    mongo = Mongo(mongodb_url)
    store = MongoProfileStore(mongo.database(database))
    bus = await Bus.connect(settings, "threadline/profile")

    async def deliver(event: CloudEvent) -> None:
        for attempt in range(1, BUS_ATTEMPTS + 1):
            try:
                await handle_ingested([event], store=store, publisher=bus, rules=rules)
                return
            except (IdentityConflictError, MergeConflictError):
                if attempt == BUS_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2)

    try:
        await mongo.database(database).command("ping")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await asyncio.gather(*(deliver(event) for event in batch))
        print("done", flush=True)
    finally:
        await bus.close()
        await mongo.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
