"""One contract for the Inbox port, run against MongoInbox (SecantusDB) and InMemoryInbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.inbox import RETENTION_SECONDS, MongoInbox
from shared.messaging import Inbox
from shared.mongo import Mongo
from shared.testing import InMemoryInbox
from tests.integration.bus.bus_helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture(params=["mongo", "memory"])
async def any_inbox(request: pytest.FixtureRequest, mongo: Mongo) -> AsyncIterator[Inbox]:
    if request.param == "memory":
        yield InMemoryInbox()
        return
    box = MongoInbox(mongo.database(unique("inbox_contract")))
    await box.ensure_indexes()
    yield box


async def test_unmarked_ids_are_unseen_and_marked_ones_are_not(any_inbox: Inbox) -> None:
    assert await any_inbox.unseen("profile.ingest", ["a", "b", "c"]) == {"a", "b", "c"}
    await any_inbox.mark("profile.ingest", ["a", "c"])
    assert await any_inbox.unseen("profile.ingest", ["a", "b", "c"]) == {"b"}
    assert await any_inbox.unseen("profile.ingest", []) == set()


async def test_marking_twice_is_harmless(any_inbox: Inbox) -> None:
    await any_inbox.mark("g", ["x", "x"])
    await any_inbox.mark("g", ["x", "y"])
    assert await any_inbox.unseen("g", ["x", "y", "z"]) == {"z"}


async def test_each_consumer_group_has_its_own_record(any_inbox: Inbox) -> None:
    await any_inbox.mark("journey.events", ["e1"])
    assert await any_inbox.unseen("scoring.events", ["e1"]) == {"e1"}
    assert await any_inbox.unseen("journey.events", ["e1"]) == set()


async def test_mongo_inbox_is_bounded_by_a_seven_day_ttl_index(mongo: Mongo) -> None:
    database = mongo.database(unique("inbox_ttl"))
    box = MongoInbox(database)
    await box.ensure_indexes()
    await box.ensure_indexes()  # idempotent
    await box.mark("profile.ingest", ["ev-1"])

    doc = await database["inbox"].find_one({"_id": "profile.ingest:ev-1"})
    assert doc is not None
    assert doc["processed_at"].tzinfo is not None
    indexes = await database["inbox"].index_information()
    ttl = [spec for spec in indexes.values() if spec["key"] == [("processed_at", 1)]]
    assert len(ttl) == 1
    assert ttl[0]["expireAfterSeconds"] == RETENTION_SECONDS == 7 * 24 * 3600
