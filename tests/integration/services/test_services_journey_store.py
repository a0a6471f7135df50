"""One contract for the journey store, run against MongoDB (SecantusDB) and the in-memory twin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.journey.adapters import mongo as mongo_store
from services.journey.adapters.in_memory import InMemoryJourneyStore
from services.journey.adapters.mongo import INDEXES, MongoJourneyStore
from services.journey.adapters.ports import Friction, JourneyProgress, JourneyStore, position
from services.journey.domain.touchpoints import Touchpoint
from tests.integration.services.services_support import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


class Twin:
    """A store plus a way to put journey progress and frictions in, as a later issue will."""

    def __init__(self, store: JourneyStore, seed) -> None:
        self.store = store
        self.seed = seed


@pytest.fixture(params=["mongodb", "in_memory"])
async def twin(request, infra) -> AsyncIterator[Twin]:
    if request.param == "in_memory":
        memory = InMemoryJourneyStore()

        async def seed_memory(customer_id, progress, friction):
            memory.progress.setdefault(customer_id, []).append(progress)
            memory.friction_docs.setdefault(customer_id, []).append(friction)

        yield Twin(memory, seed_memory)
        return
    async with scratch_database(infra.mongodb_url, INDEXES) as database:

        async def seed_mongo(customer_id, progress, friction):
            await database[mongo_store.PROGRESS].insert_one(
                {
                    "customerId": customer_id,
                    "journeyId": progress.journey_id,
                    "name": progress.name,
                    "stage": progress.stage,
                    "enteredAt": progress.entered_at,
                    "updatedAt": progress.updated_at,
                }
            )
            await database[mongo_store.FRICTIONS].insert_one(
                {
                    "_id": friction.id,
                    "customerId": customer_id,
                    "kind": friction.kind,
                    "description": friction.description,
                    "detectedAt": friction.detected_at,
                    "touchpointIds": list(friction.touchpoint_ids),
                }
            )

        yield Twin(MongoJourneyStore(database), seed_mongo)


def touchpoint(ident: str, minutes: int, channel: str = "web", customer: str = "c1") -> Touchpoint:
    return Touchpoint(
        id=ident,
        customer_id=customer,
        event_id=f"ingest-{ident}",
        kind="track",
        name="product_viewed",
        channel=channel,
        timestamp=T0 + timedelta(minutes=minutes),
        properties={"product_id": "p1", "revenue": "1.50"},
    )


async def test_touchpoints_read_back_newest_first_with_ties_by_id(twin):
    points = [touchpoint("a", 1), touchpoint("b", 2), touchpoint("c", 2), touchpoint("d", 3)]
    await twin.store.save_touchpoints(points)

    page = await twin.store.timeline("c1", first=10, after=None, channel=None)

    assert [t.id for t in page.touchpoints] == ["d", "c", "b", "a"]
    assert page.touchpoints[0] == points[3]
    assert not page.has_next


async def test_pages_continue_strictly_after_the_cursor_position(twin):
    minutes = {"a": 1, "b": 2, "c": 2, "d": 2, "e": 3}
    await twin.store.save_touchpoints([touchpoint(i, m) for i, m in minutes.items()])

    first = await twin.store.timeline("c1", first=2, after=None, channel=None)
    rest = await twin.store.timeline(
        "c1", first=10, after=position(first.touchpoints[-1]), channel=None
    )

    assert [t.id for t in first.touchpoints] == ["e", "d"]
    assert first.has_next
    assert [t.id for t in rest.touchpoints] == ["c", "b", "a"]


async def test_saving_a_touchpoint_again_keeps_one(twin):
    await twin.store.save_touchpoints([touchpoint("a", 1)])
    await twin.store.save_touchpoints([touchpoint("a", 1), touchpoint("x", 1, customer="c2")])

    assert await twin.store.count("c1", None) == 1
    assert await twin.store.count("c2", None) == 1


async def test_channel_filter_applies_to_pages_and_counts(twin):
    await twin.store.save_touchpoints(
        [touchpoint("a", 1, "web"), touchpoint("b", 2, "store"), touchpoint("c", 3, "web")]
    )

    page = await twin.store.timeline("c1", first=10, after=None, channel="web")

    assert [t.id for t in page.touchpoints] == ["c", "a"]
    assert await twin.store.count("c1", "store") == 1


async def test_journeys_and_frictions_are_read_as_stored(twin):
    assert await twin.store.journeys("c1") == []
    assert await twin.store.frictions("c1") == []
    progress = JourneyProgress("purchase", "Purchase", "consideration", T0, T0)
    friction = Friction("f1", "repeat_contact", "Called twice", T0, ("a", "b"), customer_id="c1")

    await twin.seed("c1", progress, friction)

    assert await twin.store.journeys("c1") == [progress]
    assert await twin.store.frictions("c1") == [friction]


async def test_timelines_of_many_customers_are_each_ones_page_and_count(twin):
    minutes = {"a": 1, "b": 2, "c": 2, "d": 2, "e": 3}
    await twin.store.save_touchpoints(
        [touchpoint(i, m, "web" if i in "ace" else "store") for i, m in minutes.items()]
        + [touchpoint(f"{i}2", m, customer="c2") for i, m in minutes.items() if i < "c"]
    )
    customers = ["c1", "c2", "nobody"]
    cursor = position(touchpoint("d", 2))

    for first, after, channel in [
        (2, None, None),
        (10, None, None),
        (0, None, None),
        (2, cursor, None),
        (1, cursor, None),
        (10, cursor, "web"),
        (1, None, "store"),
    ]:
        found = await twin.store.timelines(customers, first=first, after=after, channel=channel)

        assert set(found) == set(customers)
        for customer in customers:
            page = await twin.store.timeline(customer, first=first, after=after, channel=channel)
            assert found[customer].page == page, (customer, first, after, channel)
            assert found[customer].total == await twin.store.count(customer, channel)
    assert await twin.store.timelines([], first=2, after=None, channel=None) == {}


async def test_journeys_and_frictions_of_many_customers_are_each_ones_own(twin):
    progress = JourneyProgress("purchase", "Purchase", "consideration", T0, T0)
    older = Friction("f1", "repeat_contact", "Called twice", T0, ("a",), customer_id="c1")
    newer = Friction(
        "f2", "abandoned_cart", "Left", T0 + timedelta(hours=1), ("b",), customer_id="c1"
    )
    other = Friction("f3", "repeat_contact", "Called twice", T0, (), customer_id="c2")
    await twin.seed("c1", progress, older)
    await twin.seed("c1", progress, newer)
    await twin.seed("c2", progress, other)

    journeys = await twin.store.journeys_of(["c1", "c2", "nobody"])
    frictions = await twin.store.frictions_of(["c1", "c2", "nobody"])

    assert journeys == {"c1": [progress, progress], "c2": [progress], "nobody": []}
    assert frictions == {"c1": [newer, older], "c2": [other], "nobody": []}
    assert frictions["c1"] == await twin.store.frictions("c1")
