"""Real-time segments on the real servers.

The handler saves batches into SecantusDB and publishes on RabbitMQ; membership is
evaluated after each save, the scheduler (on an injected clock) expires windows and
runs re-evaluation jobs, and every transition reaches the bus exactly once. The last
test runs the profile worker and API processes' code and drives them through the
graph and the bus alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.profile import bootstrap as profile
from services.profile import segment_admin
from services.profile.adapters import mongo_segments
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.handlers import handle_ingested
from services.profile.ingest import ingest_event
from services.profile.segmenting import SegmentEngine
from shared.bus.in_memory import InMemoryInbox
from shared.bus.ports import ConsumerSpec
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent, format_time
from shared.normalize import Receipt, normalize
from tests.integration.services.services_support import (
    scratch_database,
    serving,
    slice_settings,
    unique,
)
from tests.integration.services.test_services_slice import eventually, ingest, ready, token

pytestmark = pytest.mark.integration

NOON = datetime(2026, 3, 1, 12, tzinfo=UTC)


@dataclass
class Recording:
    """The real bus as publisher, remembering what was published through it."""

    bus: Bus
    published: list[CloudEvent] = field(default_factory=list)

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await self.bus.publish(events)
        self.published.extend(events)

    def transitions(self) -> list[tuple[str, str]]:
        return [
            (e.type.rsplit(".", 1)[1], e.data["customerId"])
            for e in self.published
            if e.type.startswith("io.threadline.segment.")
        ]


@contextlib.asynccontextmanager
async def segment_listener(bus: Bus, customer_ids: set[str]) -> AsyncIterator[list[CloudEvent]]:
    """Every ``segment.*`` event about ``customer_ids`` that reaches RabbitMQ."""
    received: list[CloudEvent] = []

    async def handle(batch: Sequence[CloudEvent]) -> None:
        received.extend(e for e in batch if e.data.get("customerId") in customer_ids)

    spec = ConsumerSpec(unique("test.segments"), ("segment.#",), handle)
    await bus.start(spec, inbox=InMemoryInbox())
    yield received


def holds(check: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    """``check`` as the async poll ``eventually`` wants."""

    async def poll() -> object:
        return check()

    return poll


def live(kind: str, **message: Any) -> CloudEvent:
    """An ingest event received now (the slice's ``ingest`` receives on a fixed date)."""
    received = datetime.now(UTC)
    normalized = normalize(
        {"messageId": uuid.uuid4().hex, **message},
        Receipt(received_at=received, source="src-test"),
        kind=kind,
    )
    return ingest_event(normalized, received, None)


def order(user: str, when: datetime, kind: Callable[..., CloudEvent] = ingest) -> CloudEvent:
    return kind(
        "track",
        userId=user,
        event="Order Completed",
        properties={"order_id": uuid.uuid4().hex, "revenue": 20, "currency": "USD"},
        timestamp=format_time(when),
    )


async def test_membership_follows_events_and_windows_on_the_real_servers(infra):
    settings = slice_settings(infra)
    user = unique("buyer")
    now = NOON
    async with (
        scratch_database(infra.mongodb_url, (*INDEXES, *mongo_segments.INDEXES)) as database,
        contextlib.AsyncExitStack() as stack,
    ):
        bus = await Bus.connect(settings, source="threadline/test")
        stack.push_async_callback(bus.close)
        publisher = Recording(bus)
        profiles = MongoProfileStore(database)
        segments = mongo_segments.MongoSegmentStore(database)
        engine = SegmentEngine(profiles, segments, publisher, clock=lambda: now)
        definition, _ = await segment_admin.create_segment(
            segments,
            name="Repeat buyers",
            condition={"event": "Order Completed", "count": {"gte": 2}, "within": "P7D"},
            description="two orders in a week",
            now=now,
        )
        await engine.tick(now)

        first = [order(user, NOON - timedelta(days=2))]
        await handle_ingested(first, store=profiles, publisher=publisher, on_saved=engine.refresh)
        identity = await database["identities"].find_one({"value": user})
        assert identity is not None
        customer_id = str(identity["customerId"])
        assert publisher.transitions() == []

        async with segment_listener(bus, {customer_id}) as received:
            second = [order(user, NOON - timedelta(hours=1))]
            await handle_ingested(
                second, store=profiles, publisher=publisher, on_saved=engine.refresh
            )
            assert publisher.transitions() == [("entered", customer_id)]

            # Redelivered: stored and resolved again, no transition published again.
            await handle_ingested(
                second, store=profiles, publisher=publisher, on_saved=engine.refresh
            )
            assert publisher.transitions() == [("entered", customer_id)]

            # No new event: the first order leaves the 7-day window five days from now.
            expiry = NOON + timedelta(days=5)
            await engine.tick(expiry - timedelta(milliseconds=1))
            assert publisher.transitions() == [("entered", customer_id)]
            now = expiry
            await engine.tick(expiry)
            assert publisher.transitions() == [("entered", customer_id), ("exited", customer_id)]

            await eventually(holds(lambda: len(received) >= 2), "segment events on RabbitMQ")
            await asyncio.sleep(0.5)  # anything more would have arrived by now
            assert [e.type for e in received] == [
                "io.threadline.segment.entered",
                "io.threadline.segment.exited",
            ]
            assert received[0].data == {
                "customerId": customer_id,
                "segmentId": definition.id,
                "segmentName": "Repeat buyers",
                "version": 1,
                "at": "2026-03-01T12:00:00.000Z",
            }
        assert await segments.size(definition.id) == 0


async def test_definition_change_re_evaluates_every_stored_customer(infra):
    settings = slice_settings(infra)
    async with (
        scratch_database(infra.mongodb_url, (*INDEXES, *mongo_segments.INDEXES)) as database,
        contextlib.AsyncExitStack() as stack,
    ):
        bus = await Bus.connect(settings, source="threadline/test")
        stack.push_async_callback(bus.close)
        publisher = Recording(bus)
        profiles = MongoProfileStore(database)
        segments = mongo_segments.MongoSegmentStore(database)
        engine = SegmentEngine(profiles, segments, publisher, clock=lambda: NOON, job_page=3)
        plans = ["pro", "free"] * 4
        batch = [
            ingest("identify", userId=f"u{i}", traits={"plan": plan}, timestamp=format_time(NOON))
            for i, plan in enumerate(plans)
        ]
        await handle_ingested(batch, store=profiles, publisher=publisher)
        definition, _ = await segment_admin.create_segment(
            segments, name="Pro", condition={"trait": "plan", "eq": "pro"}, description="", now=NOON
        )
        await engine.tick(NOON)
        assert await segments.size(definition.id) == 4

        _, job = await segment_admin.update_segment(
            segments, definition.id, now=NOON, condition={"trait": "plan", "in": ["pro", "free"]}
        )
        assert (job.status, job.total) == ("pending", 8)
        await engine.tick(NOON)

        done = await segments.latest_job(definition.id)
        assert done is not None
        assert (done.status, done.processed, done.version) == ("done", 8, 2)
        assert await segments.size(definition.id) == 8
        assert [t for t, _ in publisher.transitions()] == ["entered"] * 8
        assert await segments.unpublished([m async for m in _ids(database)]) == []


async def _ids(database: Any) -> AsyncIterator[str]:
    async for doc in database["customers"].find({}, {"_id": 1}):
        yield str(doc["_id"])


SEGMENT = """query($id: ID!) { segment(id: $id) {
  size version job { status } members(first: 10) { edges { customerId } } } }"""
CUSTOMER = """query($id: ID!) { customer(id: $id) { segments { segmentId name } } }"""


@pytest.mark.slow
async def test_profile_worker_keeps_segments_in_real_time_and_expires_windows(infra):
    settings = slice_settings(infra, segment_scheduler_interval_seconds=0.2)
    run = uuid.uuid4().hex[:8]
    user = f"user-{run}"
    stop = asyncio.Event()
    worker = asyncio.create_task(profile.run_worker(settings, stop))
    try:
        async with (
            serving(profile.create_app(settings), settings.profile_port) as url,
            httpx.AsyncClient(timeout=10.0) as http,
        ):
            health = f"http://127.0.0.1:{settings.profile_port + 100}"
            await eventually(lambda: ready(http, health), "profile worker")

            async def graph(query: str, scope: str, **variables: Any) -> dict[str, Any]:
                response = await http.post(
                    f"{url}/graphql",
                    json={"query": query, "variables": variables},
                    headers=token(scope),
                )
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            condition = {
                "and": [
                    {"trait": "run", "eq": run},
                    {"event": "order_completed", "within": "PT4S"},
                ]
            }
            created = await graph(
                'mutation($c: JSON!) { createSegment(name: "Just bought", condition: $c) { id } }',
                "admin",
                c=condition,
            )
            segment_id = created["createSegment"]["id"]
            publisher = await Bus.connect(settings, source="threadline/test")
            try:
                await publisher.publish([live("identify", userId=user, traits={"run": run})])
                customer_id = await eventually(
                    lambda: _owner(http, url, user), "the customer resolved"
                )
                async with segment_listener(publisher, {customer_id}) as received:
                    await publisher.publish([order(user, datetime.now(UTC), live)])

                    async def members() -> list[str]:
                        data = await graph(SEGMENT, "customers:read", id=segment_id)
                        return [e["customerId"] for e in data["segment"]["members"]["edges"]]

                    assert await eventually(members, "the customer entering") == [customer_id]
                    found = await graph(CUSTOMER, "customers:read", id=customer_id)
                    assert found["customer"]["segments"] == [
                        {"segmentId": segment_id, "name": "Just bought"}
                    ]
                    # No more events: the order leaves the 4-second window by itself.
                    kinds = holds(lambda: [e.type.rsplit(".", 1)[1] for e in received])
                    await eventually(holds(lambda: len(received) >= 2), "the window expiring")
                    assert await kinds() == ["entered", "exited"]
                    assert await members() == []
            finally:
                await publisher.close()
            await graph("mutation($id: ID!) { deleteSegment(id: $id) }", "admin", id=segment_id)
    finally:
        stop.set()
        await worker


async def _owner(http: httpx.AsyncClient, url: str, user: str) -> str | None:
    response = await http.post(
        f"{url}/graphql",
        json={
            "query": 'query($v: String!) { customerByIdentity(type: "userId", value: $v) { id } }',
            "variables": {"v": user},
        },
        headers=token("customers:read"),
    )
    found = response.json()["data"]["customerByIdentity"]
    return str(found["id"]) if found else None


async def test_concurrent_evaluators_publish_each_transition_once(infra):
    """Several worker processes (handler, facts consumer, schedulers) evaluating the same
    customers at once: the conditional writes let one of them make each transition, so
    each has one event id however often it is published."""
    settings = slice_settings(infra)
    now = NOON
    async with (
        scratch_database(infra.mongodb_url, (*INDEXES, *mongo_segments.INDEXES)) as database,
        contextlib.AsyncExitStack() as stack,
    ):
        bus = await Bus.connect(settings, source="threadline/test")
        stack.push_async_callback(bus.close)
        publisher = Recording(bus)
        profiles = MongoProfileStore(database)
        segments = mongo_segments.MongoSegmentStore(database)
        engines = [
            SegmentEngine(
                profiles, mongo_segments.MongoSegmentStore(database), publisher, clock=lambda: now
            )
            for _ in range(4)
        ]
        await handle_ingested(
            [order(f"u{i}", NOON - timedelta(hours=1)) for i in range(10)],
            store=profiles,
            publisher=publisher,
        )
        customers = [cid async for cid in _ids(database)]
        await segment_admin.create_segment(
            segments,
            name="Ordered today",
            condition={"event": "order_completed", "within": "PT6H"},
            description="",
            now=NOON,
        )

        await asyncio.gather(*(engine.refresh(customers) for engine in engines))
        await asyncio.gather(*(engine.tick(NOON) for engine in engines))  # the job, racing
        now = NOON + timedelta(hours=5)  # the orders (an hour before noon) leave the 6 hours
        await asyncio.gather(*(engine.tick(now) for engine in engines))  # re-checks, racing

        # Racing evaluators may each publish a transition they all saw unpublished: always
        # under its one derived id, which consumers deduplicate (DESIGN.md §3).
        distinct = {
            e.id: (e.type, e.data["customerId"], e.data["at"])
            for e in publisher.published
            if e.type.startswith("io.threadline.segment.")
        }
        kinds = sorted((c, t.rsplit(".", 1)[1]) for t, c, _ in distinct.values())
        assert kinds == sorted((c, k) for c in customers for k in ("entered", "exited"))
        assert await segments.unpublished(customers) == []
