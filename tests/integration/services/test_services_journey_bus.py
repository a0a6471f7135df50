"""The journey worker on the real RabbitMQ and MongoDB: each stage change reaches the bus once,
however often the events behind it are delivered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from services.journey import bootstrap as journey
from services.journey.adapters.mongo import STAGE_TIMES
from shared.bus.ports import ConsumerSpec
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from shared.mongo import Mongo
from tests.integration.bus.bus_helpers import wait_until
from tests.integration.services.services_support import serving, slice_settings
from tests.support.resolved_events import resolved

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class EveryDelivery:
    """An inbox that has seen nothing: the listener counts every delivery, duplicates too."""

    async def unseen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        return set(event_ids)

    async def mark(self, consumer: str, event_ids: Sequence[str]) -> None:
        return None


def retail(customer: str) -> list[CloudEvent]:
    moments = ("2026-02-01T10:00:00Z", "2026-02-03T10:00:00Z", "2026-02-05T10:00:00Z")
    steps = (("Product Added to Wishlist", "web"), ("Store Visited", "store"),
             ("Order Completed", "mobile_app"))  # fmt: skip
    return [
        resolved(
            "track",
            f"{customer}-{n}",
            customer,
            event=name,
            timestamp=moment,
            context={"channel": channel},
        )
        for n, ((name, channel), moment) in enumerate(zip(steps, moments, strict=True))
    ]


async def test_each_stage_change_is_published_once_through_the_real_bus(infra):
    settings = slice_settings(infra, journey_scheduler_interval_seconds=0.2)
    customer = f"bus-{uuid.uuid4().hex[:8]}"
    heard: list[CloudEvent] = []

    async def listen(batch: Sequence[CloudEvent]) -> None:
        heard.extend(e for e in batch if e.subject == customer)

    stop = asyncio.Event()
    worker = asyncio.create_task(journey.run_worker(settings, stop))
    publisher = await Bus.connect(settings, source="threadline/test")
    listener = await Bus.connect(settings, source="threadline/test", inbox=EveryDelivery())
    try:
        group = f"test.journey-listener-{uuid.uuid4().hex[:8]}"
        await listener.start(ConsumerSpec(group, ("journey.stage_changed",), listen))
        await asyncio.sleep(1.0)  # the worker declares its queues and starts consuming
        events = retail(customer)
        await publisher.publish(events)
        await wait_until(lambda: len(heard) >= 2, limit=60, what="two stage changes")
        await publisher.publish(events)  # redelivered as a whole
        await publisher.publish(events[1:])  # and in part
        await asyncio.sleep(3.0)
    finally:
        await listener.close()
        await publisher.close()
        stop.set()
        await worker

    assert [(e.data["stage"], e.data["previousStage"]) for e in heard] == [
        ("consideration", None),
        ("purchase", "consideration"),
    ]
    assert heard[1].data["causedBy"] == events[2].id


async def test_the_api_with_its_worker_runs_the_scheduler_too(infra):
    settings = slice_settings(infra, journey_scheduler_interval_seconds=0.2)
    mongo = Mongo(infra.mongodb_url)
    times = mongo.database(settings.database_name("journey"))[STAGE_TIMES]
    try:
        await times.delete_many({})
        async with serving(journey.create_app(settings, with_worker=True), settings.journey_port):
            await wait_until_async(lambda: times.find_one({"_id": "p90"}), what="stage times")
    finally:
        await mongo.close()


async def wait_until_async(check, *, what: str, limit: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
