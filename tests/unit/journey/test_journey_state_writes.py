"""Saving a recomputed journey state sends only the writes that change what is stored."""

from __future__ import annotations

from bson import CodecOptions, decode, encode
from pymongo import DeleteMany, ReplaceOne, UpdateOne

from services.journey.adapters.state_writes import (
    Stored,
    customer_write,
    progress_documents,
    progress_writes,
)
from services.journey.domain.default_journeys import DEFAULT_CATALOG
from services.journey.domain.definitions import catalog_of
from services.journey.domain.projection import Known, Projection, project
from tests.unit.journey.journey_builders import at, ix

JOURNEYS = catalog_of(DEFAULT_CATALOG, []).current()
NAMES = {j.id: j.name for j in JOURNEYS}


def projection(*hours_and_names: tuple[float, str]) -> Projection:
    items = [ix(f"e{i}", hours, name) for i, (hours, name) in enumerate(hours_and_names)]
    return project("c1", items, JOURNEYS, [], at(72), Known())


def as_stored(document: dict[str, object]) -> dict[str, object]:
    return decode(encode(document), codec_options=CodecOptions(tz_aware=True))


def stored_progress(found: Projection, **extra: dict[str, object]) -> Stored:
    docs = {str(d["_id"]): as_stored(d) for d in progress_documents(found, NAMES)}
    return Stored(progress={"c1": {**docs, **extra}})


def test_a_recomputation_that_changes_nothing_writes_nothing():
    found = projection((1, "product_viewed"), (2.000_123, "checkout_started"))

    assert progress_documents(found, NAMES)
    assert progress_writes(found, NAMES, stored_progress(found)) == []


def test_a_moved_journey_is_replaced_and_one_no_longer_held_is_deleted():
    before = projection((1, "product_viewed"))
    after = projection((1, "product_viewed"), (2, "order_completed"))
    stale: dict[str, object] = {"_id": "gone", "customerId": "c1", "journeyId": "old"}

    writes = progress_writes(after, NAMES, stored_progress(before, gone=stale))

    replaced = [w for w in writes if isinstance(w, ReplaceOne)]
    assert len(replaced) == len(progress_documents(after, NAMES))
    assert [w for w in writes if isinstance(w, DeleteMany)] == [
        DeleteMany({"customerId": "c1", "_id": {"$in": ["gone"]}})
    ]


def test_the_customer_schedule_is_written_only_when_it_moved_or_a_lease_is_held():
    found = projection((1, "product_viewed"))
    held = as_stored({"_id": "c1", "lastActivity": found.last_activity, "dueAt": found.due_at})
    held = {k: v for k, v in held.items() if v is not None}

    assert customer_write(found, Stored(customers={"c1": held})) is None
    leased = {**held, "leaseUntil": at(80)}
    assert isinstance(customer_write(found, Stored(customers={"c1": leased})), UpdateOne)
    moved = {**held, "lastActivity": at(0)}
    assert isinstance(customer_write(found, Stored(customers={"c1": moved})), UpdateOne)
    assert isinstance(customer_write(found, Stored()), UpdateOne)
