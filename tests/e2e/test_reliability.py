"""Reliability of the running suite (issue 2 §8), proven against real processes.

- a worker killed with SIGKILL mid-stream and restarted: every accepted event is
  processed, none twice in effect (checked in each service's MongoDB database);
- RabbitMQ stopped while events flow: the collection API answers 503, never 200,
  and the processes recover by themselves once the broker is back;
- a poison message is parked after its retries without blocking the others,
  is listed with its error and can be replayed;
- the database killed with SIGKILL mid-stream and restarted on its data: every
  event the API accepted is stored by each service exactly once (finding 8).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from bson.decimal128 import Decimal128
from pymongo import MongoClient

from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from shared.settings import Settings
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from threadline.devinfra import SecantusServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

WRITE_KEY = "e2e-write-key"
PROFILE_CONSUMER = "profile.ingest"
CHANNELS = ("web", "mobile_app", "store", "email")
LIBRARIES = {"web": "analytics.js", "mobile_app": "analytics-ios"}
PROCESSING_TIMEOUT = 180.0


@dataclass(frozen=True)
class Sent:
    """What a test sent: message ids, the customers' user ids, orders and revenue per user."""

    message_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    orders: dict[str, int]


@dataclass(frozen=True)
class Stored:
    """What the three services stored about the sent events (read from MongoDB directly)."""

    profile_events: int
    profile_distinct: int
    customers: dict[str, str]  # userId -> customer id
    touchpoints: int
    touchpoint_events: int
    scored_events: int
    scored_orders: dict[str, int]  # customer id -> orders
    scored_revenue: dict[str, Decimal]  # customer id -> EUR revenue

    def complete(self, expected: int) -> bool:
        return min(self.profile_events, self.touchpoints, self.scored_events) >= expected


def event_stream(run: str, customers: int, per_customer: int) -> tuple[list[dict[str, Any]], Sent]:
    """Interleaved events of ``customers`` known visitors; every fifth is a 10.00 EUR order."""
    events: list[dict[str, Any]] = []
    orders: dict[str, int] = {}
    for n in range(per_customer):
        for c in range(customers):
            user_id, anonymous_id = f"user-{run}-{c}", f"anon-{run}-{c}"
            channel = CHANNELS[(n + c) % len(CHANNELS)]
            context: dict[str, Any] = {"channel": channel}
            if channel in LIBRARIES:
                context = {"library": {"name": LIBRARIES[channel]}}
            event: dict[str, Any] = {
                "type": "track",
                "messageId": f"m-{run}-{c}-{n}",
                "userId": user_id,
                "anonymousId": anonymous_id,
                "event": "Product Viewed",
                "properties": {"product_id": f"p{n}"},
                "timestamp": f"2026-04-01T10:{n // 60:02d}:{n % 60:02d}.{c:03d}Z",
                "context": context,
            }
            if n % 5 == 4:
                event["event"] = "Order Completed"
                event["properties"] = {"order_id": f"o-{run}-{c}-{n}", "revenue": "10.00"}
                event["properties"]["currency"] = "EUR"
                orders[user_id] = orders.get(user_id, 0) + 1
            events.append(event)
    sent = Sent(
        message_ids=tuple(e["messageId"] for e in events),
        user_ids=tuple(f"user-{run}-{c}" for c in range(customers)),
        orders=orders,
    )
    return events, sent


def post_batch(stack: Stack, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{stack.url('profile')}/v1/batch",
        json={"batch": events},
        auth=(WRITE_KEY, ""),
        timeout=15.0,
    )


def send_all(stack: Stack, events: list[dict[str, Any]]) -> None:
    response = post_batch(stack, events)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events), response.text


@pytest.fixture
def mongo(infra: Any) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(infra.mongodb_url)
    try:
        yield client
    finally:
        client.close()


def stored(client: MongoClient[dict[str, Any]], sent: Sent) -> Stored:
    """Read through indexes only: the tests poll this while the workers write, and an
    unindexed ``$in`` over thousands of message ids costs the database more than the
    workers' own writes do."""
    profile = client["threadline_profile"]
    journey = client["threadline_journey"]
    scoring = client["threadline_scoring"]
    owners = {
        doc["value"]: doc["customerId"]
        for doc in profile["identities"].find(
            {"_id": {"$in": [f"user_id:{user_id}" for user_id in sent.user_ids]}}
        )
    }
    customer_ids = sorted(set(owners.values()))
    touchpoints = list(
        journey["touchpoints"].find({"customerId": {"$in": customer_ids}}, {"eventId": 1})
    )
    scored = 0
    orders: dict[str, int] = {}
    revenue: dict[str, Decimal] = {}
    for doc in scoring["customer_metrics"].find({"_id": {"$in": customer_ids}}):
        scored += sum(int(count) for count in (doc.get("eventsByChannel") or {}).values())
        orders[doc["_id"]] = int(doc.get("orders", 0))
        eur = (doc.get("revenue") or {}).get("EUR")
        revenue[doc["_id"]] = eur.to_decimal() if isinstance(eur, Decimal128) else Decimal(0)
    sent_ids = set(sent.message_ids)
    events = [
        doc["data"]["messageId"]
        for doc in profile["events"].find(
            {"customerId": {"$in": customer_ids}}, {"data.messageId": 1}
        )
        if doc["data"]["messageId"] in sent_ids
    ]
    return Stored(
        profile_events=len(events),
        profile_distinct=len(set(events)),
        customers=owners,
        touchpoints=len(touchpoints),
        touchpoint_events=len({doc["eventId"] for doc in touchpoints}),
        scored_events=scored,
        scored_orders=orders,
        scored_revenue=revenue,
    )


def wait_for(
    check: Callable[[], Stored], expected: int, stack: Stack, settle: float = 3.0
) -> Stored:
    """Poll until every service stored ``expected`` events, then let redeliveries land."""
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    last = check()
    while not last.complete(expected):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not all {expected} events processed after {PROCESSING_TIMEOUT}s: "
                f"{last}\n{stack.logs()}"
            )
        time.sleep(0.5)
        last = check()
    # Redeliveries of what a killed worker left unacknowledged may still be in flight:
    # give them the time to (not) count twice before asserting exact numbers.
    time.sleep(settle)
    return check()


def assert_exactly_once(result: Stored, sent: Sent) -> None:
    expected = len(sent.message_ids)
    assert result.profile_events == expected
    assert result.profile_distinct == expected
    assert set(result.customers) == set(sent.user_ids)
    assert len(set(result.customers.values())) == len(sent.user_ids)
    assert result.touchpoints == expected
    assert result.touchpoint_events == expected
    assert result.scored_events == expected
    orders = {result.customers[user]: sent.orders.get(user, 0) for user in sent.user_ids}
    assert result.scored_orders == orders
    assert result.scored_revenue == {
        customer: Decimal("10.00") * count for customer, count in orders.items()
    }


def restart_worker(stack: Stack, service: str) -> None:
    stack.add(f"{service}-worker", "worker", service).start()
    stack.wait_ready(f"http://127.0.0.1:{stack.ports[service] + 100}")


def test_killed_workers_lose_nothing_and_apply_nothing_twice(
    make_stack: StackFactory, mongo: MongoClient[dict[str, Any]]
) -> None:
    stack = make_stack(THREADLINE_BATCH_SIZE="10")
    stack.start_services(separate_workers=True)
    run = uuid.uuid4().hex[:10]
    events, sent = event_stream(run, customers=40, per_customer=10)
    chunks = [events[i : i + 20] for i in range(0, len(events), 20)]

    for index, chunk in enumerate(chunks):
        send_all(stack, chunk)
        if index == 3:
            stack.processes["profile-worker"].stop(signal.SIGKILL)
        elif index == 7:
            restart_worker(stack, "profile")
        elif index == 11:
            stack.processes["journey-worker"].stop(signal.SIGKILL)
        elif index == 15:
            restart_worker(stack, "journey")

    result = wait_for(lambda: stored(mongo, sent), len(events), stack)
    assert_exactly_once(result, sent)


def test_killed_worker_mid_batch_is_redelivered_without_double_counting(
    make_stack: StackFactory, mongo: MongoClient[dict[str, Any]]
) -> None:
    """The scoring worker dies while it works through a backlog; its restart finishes it."""
    # Small batches: the backlog takes many batches, so the kill lands in the middle of it.
    stack = make_stack(THREADLINE_BATCH_SIZE="10")
    stack.start_services(separate_workers=True)
    run = uuid.uuid4().hex[:10]
    events, sent = event_stream(run, customers=20, per_customer=10)
    for start in range(0, len(events), 50):
        send_all(stack, events[start : start + 50])
    # Kill as soon as the scoring worker has folded in some, but not all, of the stream.
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    while stored(mongo, sent).scored_events == 0:
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.05)
    stack.processes["scoring-worker"].stop(signal.SIGKILL)
    restart_worker(stack, "scoring")

    result = wait_for(lambda: stored(mongo, sent), len(events), stack)
    assert_exactly_once(result, sent)


def test_api_answers_503_while_rabbitmq_is_down_and_recovers_by_itself(
    make_stack: StackFactory, infra: Any, mongo: MongoClient[dict[str, Any]]
) -> None:
    if infra.rabbit is None:
        pytest.skip("the broker is external (THREADLINE_AMQP_URL): this test restarts its own")
    stack = make_stack()
    stack.start_services(separate_workers=True)
    run = uuid.uuid4().hex[:10]
    events, sent = event_stream(run, customers=10, per_customer=6)
    before, during, after = events[:20], events[20:21], events[20:]
    send_all(stack, before)

    try:
        infra.rabbit.stop()
        response = post_batch(stack, during)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        single = httpx.post(
            f"{stack.url('profile')}/v1/track",
            json={k: v for k, v in during[0].items() if k != "type"},
            auth=(WRITE_KEY, ""),
            timeout=15.0,
        )
        assert single.status_code == 503, single.text
    finally:
        if infra.rabbit.process is None:
            infra.rabbit.start()

    # No service is restarted: the API accepts again once its connection is back.
    deadline = time.monotonic() + 90.0
    while (response := post_batch(stack, after[:1])).status_code != 200:
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"still {response.status_code}\n{stack.logs()}"
        time.sleep(0.5)
    send_all(stack, after)

    result = wait_for(lambda: stored(mongo, sent), len(events), stack)
    assert_exactly_once(result, sent)


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[SecantusServer]:
    """A SecantusDB for one test to kill and restart: the session's server is shared."""
    server = SecantusServer(tmp_path / "secantus", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_database_killed_mid_stream_loses_no_acknowledged_event(
    make_stack: StackFactory, own_database: SecantusServer
) -> None:
    """kill -9 of the database, again and again, while every worker writes a backlog.

    Consumers ack the broker once their writes are acknowledged: only writes the database
    journaled may be acknowledged, or the restarted database (recovering from its journal)
    lacks events the broker no longer holds. Meanwhile the collection API, which needs no
    database, keeps accepting events.
    """
    stack = make_stack(THREADLINE_MONGODB_URL=own_database.url, THREADLINE_BATCH_SIZE="50")
    stack.start_services(separate_workers=True)
    run = uuid.uuid4().hex[:10]
    events, sent = event_stream(run, customers=50, per_customer=40)
    chunks = [events[i : i + 50] for i in range(0, len(events), 50)]
    backlog, during_outages, after = chunks[:20], chunks[20:32], chunks[32:]
    client: MongoClient[dict[str, Any]] = MongoClient(own_database.url)
    profile_events = client["threadline_profile"]["events"]
    try:
        for chunk in backlog:
            send_all(stack, chunk)
        deadline = time.monotonic() + PROCESSING_TIMEOUT
        for outage, share in enumerate((0.1, 0.2, 0.3, 0.4, 0.5, 0.6)):
            # Mid-stream: the profile has stored part of the backlog and keeps writing.
            while profile_events.estimated_document_count() < share * len(events):
                assert time.monotonic() < deadline, stack.logs()
                time.sleep(0.05)
            own_database.kill()
            outage_ends = time.monotonic() + 1.0
            for chunk in during_outages[outage * 2 : outage * 2 + 2]:
                send_all(stack, chunk)
            time.sleep(max(0.0, outage_ends - time.monotonic()))
            own_database.start()  # same data directory: WiredTiger replays its journal
        for chunk in after:
            send_all(stack, chunk)

        result = wait_for(lambda: stored(client, sent), len(events), stack)
        assert_exactly_once(result, sent)
    finally:
        client.close()


def poison_event(anonymous_id: str, run: str) -> CloudEvent:
    """An ingest event an older collector could have sent: its timestamp is not RFC 3339."""
    return CloudEvent(
        type="io.threadline.ingest.track",
        source="threadline/profile/collector",
        id=f"poison-{run}",
        partitionkey=anonymous_id,
        data={
            "messageId": f"poison-{run}",
            "type": "track",
            "event": "order_completed",
            "anonymousId": anonymous_id,
            "userId": None,
            "identities": [{"type": "anonymous_id", "value": anonymous_id}],
            "channel": "web",
            "timestamp": "yesterday afternoon",
            "properties": {},
            "source": "legacy",
        },
    )


async def test_poison_message_is_parked_after_its_retries_without_blocking_others(
    make_stack: StackFactory, infra: Any, mongo: MongoClient[dict[str, Any]]
) -> None:
    stack = make_stack(THREADLINE_MAX_ATTEMPTS="3", THREADLINE_RETRY_DELAY_MS="200")
    stack.start_services()
    run = uuid.uuid4().hex[:10]
    events, sent = event_stream(run, customers=5, per_customer=4)
    poisoned_customer = f"anon-{run}-0"
    poison = poison_event(poisoned_customer, run)

    bus = await Bus.connect(Settings(amqp_url=infra.amqp_url), source="threadline/e2e-test")
    try:
        async with httpx.AsyncClient(auth=(WRITE_KEY, ""), timeout=15.0) as client:
            first = await client.post(
                f"{stack.url('profile')}/v1/batch", json={"batch": events[:10]}
            )
            assert first.status_code == 200, first.text
            await bus.publish([poison])
            rest = await client.post(
                f"{stack.url('profile')}/v1/batch", json={"batch": events[10:]}
            )
            assert rest.status_code == 200, rest.text

        # The valid events, including those of the poisoned customer's shard, get through.
        result = await asyncio.to_thread(wait_for, lambda: stored(mongo, sent), len(events), stack)
        assert_exactly_once(result, sent)

        parked = await wait_parked(bus, poison.id, stack)
        assert parked.attempts == 3
        assert "timestamp" in parked.error
        assert (parked.event.id, parked.event.type, parked.event.data) == (
            poison.id,
            poison.type,
            poison.data,
        )
        profile_events = mongo["threadline_profile"]["events"]
        assert profile_events.count_documents({"_id": poison.id}) == 0

        # Replayed, it goes through the consumer again (and, still poison, is parked again).
        assert await bus.replay(PROFILE_CONSUMER, [poison.id]) == 1
        again = await wait_parked(bus, poison.id, stack, after=parked.parked_at)
        assert again.attempts == 3
        assert again.event.data == poison.data
    finally:
        await bus.close()


async def wait_parked(bus: Bus, event_id: str, stack: Stack, after: Any = None) -> Any:
    deadline = time.monotonic() + 60.0
    while True:
        found = [
            p
            for p in await bus.parked(PROFILE_CONSUMER, limit=10_000)
            if p.event.id == event_id and (after is None or p.parked_at > after)
        ]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"{event_id} was not parked\n{stack.logs()}"
        await asyncio.sleep(0.3)


async def test_message_that_is_not_a_cloudevent_is_parked_and_the_shard_keeps_flowing(
    make_stack: StackFactory, infra: Any, mongo: MongoClient[dict[str, Any]]
) -> None:
    stack = make_stack(THREADLINE_MAX_ATTEMPTS="3", THREADLINE_RETRY_DELAY_MS="200")
    stack.start_services()
    run = uuid.uuid4().hex[:10]
    events, sent = event_stream(run, customers=3, per_customer=5)
    garbage_id = f"garbage-{run}"

    # A foreign producer's message on our exchange: JSON, but no CloudEvent.
    connection = await aio_pika.connect(infra.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(Settings().exchange)
        await exchange.publish(
            aio_pika.Message(
                b'{"event": "Order Completed", "userId": "someone"}',
                message_id=garbage_id,
                content_type="application/json",
                headers={"ce-partitionkey": f"anon-{run}-0"},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="ingest.track",
        )
    finally:
        await connection.close()
    async with httpx.AsyncClient(auth=(WRITE_KEY, ""), timeout=15.0) as client:
        response = await client.post(f"{stack.url('profile')}/v1/batch", json={"batch": events})
        assert response.status_code == 200, response.text

    result = await asyncio.to_thread(wait_for, lambda: stored(mongo, sent), len(events), stack)
    assert_exactly_once(result, sent)

    bus = await Bus.connect(Settings(amqp_url=infra.amqp_url), source="threadline/e2e-test")
    try:
        parked = await wait_parked(bus, garbage_id, stack)
        assert parked.error.startswith("undecodable message"), parked.error
        assert "Order Completed" in parked.event.data["body"]
    finally:
        await bus.close()
