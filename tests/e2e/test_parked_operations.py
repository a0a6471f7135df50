"""One bad event never takes its device's batch down, and an operator sees and replays it.

Real processes (``threadline serve`` and ``threadline worker`` for each service):
the collection API refuses an unstorable event at the door and accepts its 50
neighbours; an unstorable event already on the bus inside a device envelope is
parked alone while the rest of the envelope is stored; the operator lists it
over ``/v1/admin/parked`` and replays it with ``threadline parked replay``.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from pymongo import MongoClient

from services.profile.ingest import grouped, ingest_event
from shared.auth import issue_token
from shared.bus.rabbitmq import Bus
from shared.normalize import Receipt, normalize
from shared.settings import Settings
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import THREADLINE, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

WRITE_KEY = "e2e-write-key"
CONSUMER = "profile.ingest"
TIMEOUT = 120.0


@pytest.fixture
def mongo(infra: Any) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(infra.mongodb_url)
    try:
        yield client
    finally:
        client.close()


def page(device: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": device,
        "name": message_id,
        "timestamp": datetime.now(UTC).isoformat(),
        **fields,
    }


def wait_stored(
    mongo: MongoClient[dict[str, Any]], devices: list[str], expected: int, stack: Stack
) -> list[str]:
    events = mongo["threadline_profile"]["events"]
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = sorted(
            doc["data"]["messageId"]
            for doc in events.find({"data.anonymousId": {"$in": devices}}, {"data.messageId": 1})
        )
        if len(found) >= expected:
            time.sleep(1.0)  # nothing more may arrive
            return sorted(
                doc["data"]["messageId"]
                for doc in events.find({"data.anonymousId": {"$in": devices}})
            )
        assert time.monotonic() < deadline, f"{len(found)} of {expected} stored\n{stack.logs()}"
        time.sleep(0.5)


async def parked_ids(http: httpx.AsyncClient, stack: Stack, token: str) -> dict[str, Any]:
    answer = await http.get(
        f"{stack.url('profile')}/v1/admin/parked",
        params={"consumer": CONSUMER, "limit": "1000"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return {item["id"]: item for item in answer.json()["items"]}


async def test_a_bad_event_is_refused_or_parked_alone_and_the_operator_replays_it(
    make_stack: StackFactory, infra: Any, mongo: MongoClient[dict[str, Any]]
) -> None:
    stack = make_stack(THREADLINE_MAX_ATTEMPTS="2")
    stack.start_services(separate_workers=True)
    run = uuid.uuid4().hex[:8]
    door_device, bus_device = f"door-{run}", f"bus-{run}"
    token = issue_token(stack.env["THREADLINE_JWT_SECRET"], ["admin"])

    good = [page(door_device, f"{door_device}-{i:02d}") for i in range(50)]
    bad = page(door_device, f"{door_device}-bad", properties={"count": 2**63})
    received = datetime.now(UTC)
    receipt = Receipt(received_at=received, source="e2e")
    queued = [
        ingest_event(normalize(page(bus_device, f"{bus_device}-{i}"), receipt), received, None)
        for i in range(10)
    ]
    poison_data = normalize(page(bus_device, f"{bus_device}-bad"), receipt)
    poison_data["traits"] = {"plan\x00": "gold"}  # queued before the door refused NUL keys
    poison = ingest_event(poison_data, received, None)

    async with httpx.AsyncClient(timeout=15.0) as http:
        response = await http.post(
            f"{stack.url('profile')}/v1/batch",
            json={"batch": [*good[:30], bad, *good[30:]]},
            auth=(WRITE_KEY, ""),
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 50
        [rejected] = response.json()["rejected"]
        assert "batch[30].properties.count" in rejected["errors"]

        bus = await Bus.connect(Settings(amqp_url=infra.amqp_url), source="threadline/e2e-test")
        try:
            await bus.publish(grouped([*queued[:5], poison, *queued[5:]], "e2e"))
        finally:
            await bus.close()

        expected = sorted([*(g["messageId"] for g in good), *(q.data["messageId"] for q in queued)])
        stored = await asyncio.to_thread(
            wait_stored, mongo, [door_device, bus_device], len(expected), stack
        )
        assert stored == expected

        deadline = time.monotonic() + TIMEOUT
        while poison.id not in (listed := await parked_ids(http, stack, token)):
            assert time.monotonic() < deadline, f"not parked\n{stack.logs()}"
            await asyncio.sleep(0.3)
        item = listed[poison.id]
        assert item["attempts"] == 2
        assert "NULL byte" in item["error"]
        assert item["data"]["messageId"] == f"{bus_device}-bad"

        cli_list = await asyncio.to_thread(
            subprocess.run,
            [THREADLINE, "parked", "list", CONSUMER, "--limit", "1000"],
            env=stack.env,
            capture_output=True,
            check=True,
        )
        cli_ids = {orjson.loads(line)["id"] for line in cli_list.stdout.splitlines()}
        assert poison.id in cli_ids

        replay = await asyncio.to_thread(
            subprocess.run,
            [THREADLINE, "parked", "replay", CONSUMER, "--id", poison.id],
            env=stack.env,
            capture_output=True,
            check=True,
        )
        assert b"replayed 1 parked event(s)" in replay.stdout
        # Still unstorable: tried again, parked again, alone.
        deadline = time.monotonic() + TIMEOUT
        while True:
            again = (await parked_ids(http, stack, token)).get(poison.id)
            if again is not None and again["parkedAt"] > item["parkedAt"]:
                break
            assert time.monotonic() < deadline, f"not parked again\n{stack.logs()}"
            await asyncio.sleep(0.3)
