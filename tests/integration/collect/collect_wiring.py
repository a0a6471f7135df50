"""The collection API over the real bus and MongoDB, and a test queue to read what it published."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from starlette.applications import Starlette

from services.profile.adapters.mongo_quarantine import INDEXES, MongoQuarantine
from services.profile.api.collect import collection_routes
from services.profile.api.intake import Collector
from services.profile.ingest import expand
from shared.auth import TokenVerifier, WriteKeys
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from shared.mongo import Mongo
from shared.settings import Settings

WRITE_KEY = "wk_integration_key"
JWT_SECRET = "integration-secret-that-is-long-enough-for-hs256"


def collect_settings(infra: Any, **overrides: Any) -> Settings:
    """Settings isolated to one test: its own exchange and profile database."""
    values: dict[str, Any] = {
        "amqp_url": infra.amqp_url,
        "mongodb_url": infra.mongodb_url,
        "exchange": f"test.collect.{uuid.uuid4().hex[:10]}",
        "write_keys": (WRITE_KEY,),
        "jwt_secret": JWT_SECRET,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Received:
    """Messages that reached a test queue bound to the events exchange."""

    queue: AbstractQueue

    async def take(self, count: int, limit: float = 20.0) -> list[AbstractIncomingMessage]:
        messages: list[AbstractIncomingMessage] = []
        deadline = asyncio.get_running_loop().time() + limit
        while len(messages) < count:
            message = await self.queue.get(fail=False, no_ack=True)
            if message is None:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"got {len(messages)} of {count} messages in {limit}s")
                await asyncio.sleep(0.05)
                continue
            messages.append(message)
        return messages

    async def bodies(self, count: int, limit: float = 20.0) -> list[dict[str, Any]]:
        return [orjson.loads(m.body) for m in await self.take(count, limit)]

    async def events(self, count: int, limit: float = 20.0) -> list[CloudEvent]:
        """``count`` ingest events, batch messages expanded as the profile consumer does."""
        events: list[CloudEvent] = []
        while len(events) < count:
            [message] = await self.take(1, limit)
            events.extend(expand([CloudEvent.from_json(message.body)]))
        return events


@asynccontextmanager
async def tap(settings: Settings, binding: str = "ingest.#") -> AsyncIterator[Received]:
    """An exclusive queue bound to the events exchange (declared like the bus declares it)."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, binding)
        yield Received(queue)
    finally:
        await connection.close()


@dataclass
class Wired:
    app: Starlette
    bus: Bus
    quarantine: MongoQuarantine
    collector: Collector


@asynccontextmanager
async def wired(settings: Settings) -> AsyncIterator[Wired]:
    """The collection routes with a real Bus and a MongoQuarantine in a fresh database."""
    mongo = Mongo(settings.mongodb_url)
    database = f"threadline_profile_{uuid.uuid4().hex[:8]}"
    await mongo.ensure_indexes(database, INDEXES)
    bus = await Bus.connect(settings, source="threadline/profile")
    quarantine = MongoQuarantine(mongo.database(database))
    collector = Collector(
        publisher=bus,
        quarantine=quarantine,
        write_keys=WriteKeys(settings.write_keys),
        tokens=TokenVerifier(secret=settings.jwt_secret),
    )
    app = Starlette(routes=collection_routes(lambda _: collector))
    try:
        yield Wired(app, bus, quarantine, collector)
    finally:
        await bus.close()
        await mongo.client.drop_database(database)
        await mongo.close()
