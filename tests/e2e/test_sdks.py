"""The official Segment and RudderStack Python SDKs work unchanged against our collection API.

A live uvicorn server of the profile service (real RabbitMQ and MongoDB from
the ``infra`` fixture) receives what the SDKs send; the events must arrive on
the bus normalized, which we check from a test queue bound to the exchange.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from services.profile.domain.identity import Identity, identities_of
from shared.events import CloudEvent
from shared.settings import Settings
from tests.integration.collect.collect_wiring import Received, tap
from threadline.devinfra import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WRITE_KEY = "wk_e2e_sdk_key"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    settings: Settings


@pytest.fixture(scope="module")
def server(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    exchange = f"test.sdk.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "THREADLINE_AMQP_URL": infra.amqp_url,
        "THREADLINE_MONGODB_URL": infra.mongodb_url,
        "THREADLINE_EXCHANGE": exchange,
        "THREADLINE_WRITE_KEYS": WRITE_KEY,
        "THREADLINE_JWT_SECRET": "e2e-secret-that-is-long-enough-for-hs256",
    }
    log = tmp_path_factory.mktemp("sdk-server") / "uvicorn.log"
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.e2e.sdk_server:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Server(url, Settings(amqp_url=infra.amqp_url, exchange=exchange))
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready within 60s:\n{log.read_text()[-3000:]}")


@pytest.fixture
async def received(server: Server) -> AsyncIterator[Received]:
    async with tap(server.settings) as queue:
        yield queue


def by_message(events: list[CloudEvent]) -> dict[str, CloudEvent]:
    return {event.data["messageId"]: event for event in events}


def assert_common(event: CloudEvent, kind: str, partition: str) -> None:
    assert event.type == f"io.threadline.ingest.{kind}"
    assert event.source == "threadline/profile/collector"
    assert event.partitionkey == partition
    assert event.data["type"] == kind
    assert event.data["channel"] == "other"  # a server-side library
    assert event.data["timestamp"].endswith("Z")
    assert WRITE_KEY not in str(event.data)


async def test_segment_sdk_delivers_identify_track_and_page(
    server: Server, received: Received
) -> None:
    errors: list[Any] = []
    user = f"seg-{uuid.uuid4().hex[:6]}"

    def send() -> None:
        client = SegmentClient(
            write_key=WRITE_KEY,
            host=server.url,
            on_error=lambda error, batch: errors.append(error),
            max_retries=1,
            upload_interval=0.05,
        )
        client.identify(
            user,
            {"email": " Grace@Example.COM ", "phone": "+1 (415) 555-2671"},
            message_id=f"{user}-identify",
        )
        client.track(
            user,
            "Order Completed",
            {"order_id": "o-1", "revenue": 42.5, "currency": "usd"},
            context={"consent": {"categoryPreferences": {"marketing": True}}},
            message_id=f"{user}-track",
        )
        client.page(user, "Docs", "Getting Started", {"url": "https://x.test/docs"},
                    message_id=f"{user}-page")  # fmt: skip
        client.flush()
        client.join()

    await asyncio.to_thread(send)
    assert errors == []
    events = by_message(await received.events(3))

    identify = events[f"{user}-identify"]
    assert_common(identify, "identify", user)
    assert identify.data["traits"]["email"] == "grace@example.com"
    assert identify.data["traits"]["phone"] == "+14155552671"
    assert Identity("phone", "+14155552671") in identities_of(identify.data)

    order = events[f"{user}-track"]
    assert_common(order, "track", user)
    assert order.data["event"] == "order_completed"
    assert order.data["eventName"] == "Order Completed"
    assert order.data["money"] == {"revenue": "42.5", "currency": "USD"}
    assert order.data["consent"] == {"categoryPreferences": {"marketing": True}}
    assert order.data["context"]["library"]["name"] == "analytics-python"

    page = events[f"{user}-page"]
    assert_common(page, "page", user)
    assert page.data["name"] == "Getting Started"
    assert page.data["properties"]["url"] == "https://x.test/docs"


async def test_rudderstack_sdk_delivers_gzipped_identify_track_and_page(
    server: Server, received: Received
) -> None:
    anonymous = f"rs-{uuid.uuid4().hex[:6]}"

    def send() -> None:
        client = RudderClient(
            write_key=WRITE_KEY, host=server.url, sync_mode=True, gzip=True, max_retries=1
        )
        client.identify(anonymous_id=anonymous, traits={"email": "LIN@example.org"},
                        message_id=f"{anonymous}-identify")  # fmt: skip
        client.track(anonymous_id=anonymous, event="productViewed",
                     properties={"price": "19.99", "currency": "eur"},
                     message_id=f"{anonymous}-track")  # fmt: skip
        client.page(anonymous_id=anonymous, name="Home", message_id=f"{anonymous}-page")

    await asyncio.to_thread(send)
    events = by_message(await received.events(3))

    identify = events[f"{anonymous}-identify"]
    assert_common(identify, "identify", anonymous)
    assert Identity("email", "lin@example.org") in identities_of(identify.data)
    viewed = events[f"{anonymous}-track"]
    assert_common(viewed, "track", anonymous)
    assert viewed.data["event"] == "product_viewed"
    assert viewed.data["money"] == {"price": "19.99", "currency": "EUR"}
    assert events[f"{anonymous}-page"].data["name"] == "Home"


async def test_sdk_retry_of_the_same_message_has_the_same_event_id(
    server: Server, received: Received
) -> None:
    def send_twice() -> None:
        client = RudderClient(write_key=WRITE_KEY, host=server.url, sync_mode=True)
        for _ in range(2):
            client.track(user_id="dup-user", event="Signed Up", message_id="dup-message")

    await asyncio.to_thread(send_twice)
    first, second = await received.events(2)
    assert first.id == second.id


@pytest.mark.parametrize("sdk", [SegmentClient, RudderClient])
def test_sdk_with_a_wrong_write_key_is_refused(server: Server, sdk: Any) -> None:
    client = sdk(write_key="not-a-key", host=server.url, sync_mode=True, max_retries=0)
    with pytest.raises(Exception, match=r"unknown write key \(401\)"):
        client.track(user_id="u", event="Signed Up")
