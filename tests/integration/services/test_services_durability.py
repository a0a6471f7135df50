"""Acknowledged writes survive a crash of the database (issue 2, finding 8).

Consumers ack the broker once their writes are acknowledged, so the services' MongoDB
client must not be told "done" before a write is journaled: these tests kill -9 a
private SecantusDB while writes stream in through the client the services open
(``shared.runtime.mongo_client``), restart it on the same data directory and look for
every acknowledged write.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.journey.adapters.mongo import INDEXES as JOURNEY_INDEXES
from services.journey.adapters.mongo import MongoJourneyStore
from services.journey.domain.touchpoints import Touchpoint
from services.profile.adapters.mongo import MongoProfileStore
from services.profile.adapters.ports import ProfileWrites, StoredEvent
from shared.errors import StorageError
from shared.mongo import Mongo
from shared.runtime import mongo_client
from shared.settings import Settings
from tests.integration.services.services_support import scratch_database, unique
from threadline.devinfra import SecantusServer

pytestmark = pytest.mark.integration

WRITERS = 4
BATCH = 20
STREAM_SECONDS = 1.5
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


async def _write_until_cancelled(mongo: Mongo, database: str, writer: int, acked: set[int]):
    collection = mongo.database(database)["docs"]
    n = 0
    while True:
        ids = [writer * 10_000_000 + n + i for i in range(BATCH)]
        await collection.insert_many([{"_id": i, "pad": "x" * 200} for i in ids], ordered=False)
        acked.update(ids)
        n += BATCH


@pytest.mark.leaks_sockets(
    "PyMongo's async connect does not close its socket when cancelled: the writers are "
    "cancelled while their client reconnects to the killed server"
)
async def test_writes_acknowledged_before_the_database_is_killed_are_there_after_its_restart(
    secantus: SecantusServer,
):
    settings = Settings(mongodb_url=secantus.url)
    mongo = mongo_client(settings, "profile")
    database = unique("durability")
    acked: set[int] = set()
    writers = [
        asyncio.create_task(_write_until_cancelled(mongo, database, k, acked))
        for k in range(WRITERS)
    ]
    try:
        await asyncio.sleep(STREAM_SECONDS)
        assert not any(w.done() for w in writers), [w.exception() for w in writers if w.done()]
        await asyncio.to_thread(secantus.kill)
        acknowledged = set(acked)  # nothing can be acknowledged by a dead server
    finally:
        for writer in writers:
            writer.cancel()
        for writer in writers:
            with contextlib.suppress(BaseException):
                await writer
        await mongo.close()
    assert len(acknowledged) > 1_000, "too few writes to say anything; is the disk that slow?"

    await asyncio.to_thread(secantus.start)
    reader = mongo_client(settings, "profile")
    try:
        cursor = reader.database(database)["docs"].find({}, {"_id": 1})
        stored = {doc["_id"] async for doc in cursor}
    finally:
        await reader.close()
    lost = acknowledged - stored
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged writes lost"


def test_services_ask_for_journaled_majority_writes_unless_configured_otherwise(monkeypatch):
    default = mongo_client(Settings(), "scoring").client.write_concern
    assert default.document == {"w": "majority", "j": True}

    monkeypatch.setenv("THREADLINE_MONGODB_WRITE_CONCERN_W", "1")
    monkeypatch.setenv("THREADLINE_MONGODB_JOURNAL", "false")
    lowered = mongo_client(Settings(), "scoring").client.write_concern
    assert lowered.document == {"w": 1, "j": False}


def test_an_unacknowledged_write_concern_is_refused_with_how_to_fix_it():
    with pytest.raises(ValidationError, match="THREADLINE_MONGODB_WRITE_CONCERN_W=0") as caught:
        Settings(mongodb_write_concern_w=0)
    assert "set it to `majority`" in str(caught.value)


def _touchpoint(ident: str) -> Touchpoint:
    return Touchpoint(
        id=ident,
        customer_id="c1",
        event_id=f"ingest-{ident}",
        kind="track",
        name="product_viewed",
        channel="web",
        timestamp=T0,
        properties={},
    )


async def test_writes_the_database_cannot_acknowledge_as_asked_fail_instead_of_passing(infra):
    """A write-concern error means "not known to be durable": never a stored batch."""
    # Five members can never acknowledge on a single server: every write gets a
    # writeConcernError although the write itself is applied.
    unsatisfiable = Mongo(infra.mongodb_url, w=5, journal=True)
    try:
        async with scratch_database(infra.mongodb_url, JOURNEY_INDEXES) as database:
            journey = MongoJourneyStore(unsatisfiable.database(database.name))
            with pytest.raises(StorageError, match="saving touchpoints failed"):
                await journey.save_touchpoints([_touchpoint("t1")])

            profile = MongoProfileStore(unsatisfiable.database(database.name))
            event = StoredEvent(
                id="e1", customer_id="c1", kind="track", timestamp=T0, channel="web", data={}
            )
            with pytest.raises(
                StorageError, match="saving sightings, events and the merge log failed"
            ):
                await profile.save(ProfileWrites(events=(event,)))
    finally:
        await unsatisfiable.close()
