"""Fixtures for the bus adapter against the real RabbitMQ node and SecantusDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.bus.inbox import MongoInbox
from shared.bus.ports import Inbox
from shared.bus.rabbitmq import Bus
from shared.mongo import Mongo
from shared.settings import Settings
from tests.integration.bus.bus_helpers import ConnectBus, unique


@pytest.fixture
async def mongo(infra) -> AsyncIterator[Mongo]:
    client = Mongo(infra.mongodb_url)
    yield client
    await client.close()


@pytest.fixture
async def inbox(mongo: Mongo) -> MongoInbox:
    box = MongoInbox(mongo.database(unique("bus_test")))
    await box.ensure_indexes()
    return box


@pytest.fixture
async def connect_bus(inbox: MongoInbox) -> AsyncIterator[ConnectBus]:
    """Open buses for the test, closed afterwards: ``await connect_bus(settings)``."""
    opened: list[Bus] = []

    async def connect(settings: Settings, *, with_inbox: Inbox | None = None) -> Bus:
        bus = await Bus.connect(settings, "threadline/test", inbox=with_inbox or inbox)
        opened.append(bus)
        return bus

    yield connect
    for bus in opened:
        await bus.close()
