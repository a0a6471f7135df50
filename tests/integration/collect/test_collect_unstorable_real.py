"""One event the database cannot hold never takes its device's batch down (real bus and DB).

The profile API with its worker in-process (``create_app(with_worker=True)``) on
the real RabbitMQ node and SecantusDB: the collector refuses the bad event at
the door; an unstorable event already on the bus is parked alone, and an
operator lists and replays it over HTTP and with ``threadline parked``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from services.profile import bootstrap as profile
from services.profile.ingest import grouped, ingest_event
from services.profile.worker import CONSUMER
from shared.auth import issue_token
from shared.bus.rabbitmq import Bus
from shared.mongo import Mongo
from shared.normalize import Receipt, normalize
from shared.settings import Settings
from tests.integration.services.services_support import JWT_SECRET, serving, slice_settings
from threadline.parked import list_parked, replay_parked

pytestmark = pytest.mark.integration

WRITE_KEY = ("services-write-key", "")
ADMIN = {"Authorization": f"Bearer {issue_token(JWT_SECRET, ['admin'])}"}
WAIT_SECONDS = 60.0


def settings_for(infra: Any) -> Settings:
    return slice_settings(
        infra,
        exchange=f"test.unstorable.{uuid.uuid4().hex[:10]}",
        max_attempts=2,
        retry_delay_ms=100,
    )


def page(device: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": device,
        "name": message_id,
        "timestamp": datetime.now(UTC).isoformat(),
        **fields,
    }


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


@asynccontextmanager
async def profile_with_worker(settings: Settings) -> AsyncIterator[tuple[str, Mongo]]:
    mongo = Mongo(settings.mongodb_url)
    try:
        async with serving(
            profile.create_app(settings, with_worker=True), settings.profile_port
        ) as url:
            yield url, mongo
    finally:
        await mongo.close()


async def stored_pages(mongo: Mongo, settings: Settings, device: str) -> list[str]:
    events = mongo.database(settings.database_name("profile"))["events"]
    cursor = events.find({"data.anonymousId": device}, {"data.messageId": 1})
    return sorted([doc["data"]["messageId"] async for doc in cursor])


async def test_fifty_good_events_and_one_unstorable_in_one_device_batch_store_the_fifty(
    infra,
) -> None:
    settings = settings_for(infra)
    device = f"device-{uuid.uuid4().hex[:8]}"
    good = [page(device, f"{device}-p{i:02d}") for i in range(50)]
    bad = page(device, f"{device}-bad", properties={"count": 2**64 - 1})
    async with profile_with_worker(settings) as (url, mongo), httpx.AsyncClient() as http:
        response = await http.post(
            f"{url}/v1/batch", json={"batch": [*good[:25], bad, *good[25:]]}, auth=WRITE_KEY
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 50
        [rejected] = response.json()["rejected"]
        assert list(rejected["errors"]) == ["batch[25].properties.count"]

        wanted = sorted(m["messageId"] for m in good)

        async def all_fifty() -> bool:
            return await stored_pages(mongo, settings, device) == wanted

        await eventually(all_fifty, "the 50 good events to be stored")


async def test_an_unstorable_event_on_the_bus_is_parked_alone_and_an_operator_replays_it(
    infra, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(infra)
    device = f"device-{uuid.uuid4().hex[:8]}"
    received = datetime.now(UTC)
    receipt = Receipt(received_at=received, source="src-test")
    good = [
        ingest_event(normalize(page(device, f"{device}-p{i}"), receipt), received, None)
        for i in range(10)
    ]
    # Collected before the door refused NUL keys: the database cannot store it.
    normalized = normalize(page(device, f"{device}-bad"), receipt)
    normalized["properties"] = {"a\x00b": 1}
    bad = ingest_event(normalized, received, None)

    async with profile_with_worker(settings) as (url, mongo), httpx.AsyncClient() as http:
        publisher = await Bus.connect(settings, source="threadline/test")
        try:
            await publisher.publish(grouped([*good[:5], bad, *good[5:]], "src-test"))
        finally:
            await publisher.close()
        wanted = sorted(e.data["messageId"] for e in good)

        async def good_ones_stored() -> bool:
            return await stored_pages(mongo, settings, device) == wanted

        await eventually(good_ones_stored, "the 10 good events to be stored")

        async def listed() -> list[dict[str, Any]]:
            answer = await http.get(f"{url}/v1/admin/parked?consumer={CONSUMER}", headers=ADMIN)
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()["items"]
            return items

        [item] = await eventually(listed, "the unstorable event to be parked")
        assert item["id"] == bad.id  # alone, not its envelope
        assert item["attempts"] == settings.max_attempts
        assert "NULL byte" in item["error"]

        capsys.readouterr()
        assert await asyncio.to_thread(list_parked, CONSUMER, 10, settings) == 0
        [line] = capsys.readouterr().out.splitlines()
        assert orjson.loads(line)["id"] == bad.id

        replayed = await http.post(
            f"{url}/v1/admin/parked/replay",
            json={"consumer": CONSUMER, "ids": [bad.id]},
            headers=ADMIN,
        )
        assert replayed.json() == {"consumer": CONSUMER, "replayed": 1}
        [again] = await eventually(listed, "the replayed event to fail and park again")
        assert again["id"] == bad.id

        assert await asyncio.to_thread(replay_parked, CONSUMER, None, settings) == 0
        assert "replayed 1 parked event(s)" in capsys.readouterr().out
        assert await stored_pages(mongo, settings, device) == wanted


async def test_keys_with_dots_and_dollars_are_stored_as_sent(infra) -> None:
    """What the door lets through, the database holds: no refusal needed for these keys."""
    settings = settings_for(infra)
    device = f"device-{uuid.uuid4().hex[:8]}"
    odd = {"$price": 1, "a.b": {"$c.d": 2}, "%2E": 3}
    async with profile_with_worker(settings) as (url, mongo), httpx.AsyncClient() as http:
        sent = await http.post(
            f"{url}/v1/identify",
            json={"anonymousId": device, "messageId": f"{device}-i", "traits": odd},
            auth=WRITE_KEY,
        )
        assert sent.status_code == 200, sent.text
        events = mongo.database(settings.database_name("profile"))["events"]

        async def stored() -> dict[str, Any] | None:
            found: dict[str, Any] | None = await events.find_one({"data.anonymousId": device})
            return found

        document = await eventually(stored, "the identify to be stored")
        assert document["data"]["traits"] == odd
        customers = mongo.database(settings.database_name("profile"))["customers"]
        customer = await customers.find_one({"_id": document["customerId"]})
        assert customer is not None
        assert {name: entry["value"] for name, entry in customer["traits"].items()} == {
            "%24price": 1,
            "a%2Eb": {"$c.d": 2},
            "%252E": 3,
        }
