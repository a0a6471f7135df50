"""One contract for the Inbox port, run against MongoInbox (SecantusDB) and InMemoryInbox,
then MongoInbox's weekly, index-free buckets across week boundaries (injected clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.bus.in_memory import InMemoryInbox
from shared.bus.inbox import MongoInbox
from shared.bus.ports import Inbox
from shared.mongo import AsyncDatabase, Document, Mongo
from tests.integration.bus.bus_helpers import unique

pytestmark = pytest.mark.integration

MONDAY_W48 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    """A settable clock for crossing week boundaries without waiting for them."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["mongo", "memory"])
async def any_inbox(request: pytest.FixtureRequest, mongo: Mongo) -> AsyncIterator[Inbox]:
    if request.param == "memory":
        yield InMemoryInbox()
        return
    box = MongoInbox(mongo.database(unique("inbox_contract")))
    await box.ensure_indexes()
    yield box


@pytest.fixture
async def database(mongo: Mongo) -> AsyncIterator[AsyncDatabase[Document]]:
    db = mongo.database(unique("inbox_buckets"))
    yield db
    await db.client.drop_database(db.name)


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


async def test_marks_go_to_the_current_weeks_bucket_which_has_no_secondary_index(
    database: AsyncDatabase[Document],
) -> None:
    box = MongoInbox(database, clock=Clock(MONDAY_W48))
    await box.ensure_indexes()
    await box.ensure_indexes()  # idempotent
    assert box.indexes() == []
    await box.mark("profile.ingest", ["ev-1", "ev-2"])

    assert await database.list_collection_names() == ["inbox_2026w48"]
    doc = await database["inbox_2026w48"].find_one({"_id": "profile.ingest:ev-1"})
    assert doc is not None
    assert doc["processed_at"].replace(tzinfo=UTC) == MONDAY_W48
    indexes = await database["inbox_2026w48"].index_information()
    assert [spec["key"] for spec in indexes.values()] == [[("_id", 1)]]


async def test_a_mark_is_still_seen_in_the_following_week(
    database: AsyncDatabase[Document],
) -> None:
    clock = Clock(datetime(2026, 11, 29, 23, 59, tzinfo=UTC))  # Sunday night, week 48
    box = MongoInbox(database, clock=clock)
    await box.mark("journey.events", ["late-sunday"])

    clock.advance(days=6, hours=23)  # Sunday of week 49
    assert await box.unseen("journey.events", ["late-sunday", "new"]) == {"new"}
    await box.mark("journey.events", ["new"])
    assert await box.unseen("journey.events", ["late-sunday", "new"]) == set()
    assert sorted(await database.list_collection_names()) == ["inbox_2026w48", "inbox_2026w49"]


async def test_a_mark_made_again_in_a_later_week_is_harmless(
    database: AsyncDatabase[Document],
) -> None:
    clock = Clock(MONDAY_W48)
    box = MongoInbox(database, clock=clock)
    await box.mark("g", ["x"])
    clock.advance(days=7)
    await box.mark("g", ["x", "x", "y"])  # recorded last week too: no error, no loss
    assert await box.unseen("g", ["x", "y", "z"]) == {"z"}
    assert await database["inbox_2026w49"].count_documents({}) == 2


async def test_buckets_older_than_the_previous_week_are_dropped_by_housekeeping(
    database: AsyncDatabase[Document],
) -> None:
    clock = Clock(MONDAY_W48)
    box = MongoInbox(database, clock=clock)
    await box.mark("g", ["w48"])
    clock.advance(days=7)
    await box.mark("g", ["w49"])
    await database["customers"].insert_one({"_id": "not an inbox"})
    assert await box.unseen("g", ["w48", "w49"]) == set()

    clock.advance(days=7)  # week 50: week 48 is now older than the previous week
    assert await box.unseen("g", ["w48", "w49"]) == {"w48"}
    await box.mark("g", ["w50"])  # the week changed: mark runs housekeeping
    assert sorted(await database.list_collection_names()) == [
        "customers",
        "inbox_2026w49",
        "inbox_2026w50",
    ]
    assert await box.unseen("g", ["w48", "w49", "w50"]) == {"w48"}


async def test_housekeeping_runs_at_most_hourly_within_a_week(
    database: AsyncDatabase[Document],
) -> None:
    clock = Clock(MONDAY_W48)
    box = MongoInbox(database, clock=clock)
    await box.mark("g", ["first"])  # the first mark housekeeps
    # A bucket left by an earlier process, stale now: not dropped until an hour passed.
    await database["inbox_2026w40"].insert_one({"_id": "g:ancient"})

    clock.advance(minutes=59)
    await box.mark("g", ["second"])
    assert "inbox_2026w40" in await database.list_collection_names()

    clock.advance(minutes=1)
    await box.mark("g", ["third"])
    assert "inbox_2026w40" not in await database.list_collection_names()


async def test_housekeeping_reports_what_it_dropped_and_tolerates_repeats(
    database: AsyncDatabase[Document],
) -> None:
    box = MongoInbox(database, clock=Clock(MONDAY_W48))
    for name in ("inbox_2026w45", "inbox_2026w46", "inbox_2026w47"):
        await database[name].insert_one({"_id": "g:e"})
    assert await box.housekeep() == ["inbox_2026w45", "inbox_2026w46"]
    assert await box.housekeep() == []
    assert await database.list_collection_names() == ["inbox_2026w47"]
    assert await box.unseen("g", ["e"]) == set()
