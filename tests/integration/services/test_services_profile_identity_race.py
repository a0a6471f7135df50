"""Concurrent identifies on the real MongoDB adapter: one person stays one customer.

Several shard consumers resolve events of one person at once (one email, a new
anonymous id per device). Identity writes must be all-or-nothing: no identity
may end up owned by a customer id without a document, and no event may be lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.profile.adapters.mongo import (
    CUSTOMERS,
    EVENTS,
    IDENTITIES,
    INDEXES,
    MongoProfileStore,
)
from services.profile.adapters.ports import IdentityConflictError
from services.profile.domain.resolution_rules import ResolutionRules
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent
from tests.integration.services.services_support import scratch_database, unique
from tests.unit.profile.profile_events import at, segment

pytestmark = pytest.mark.integration

DEVICES = 50
# One person with 50 devices in an hour: above the default five anonymous ids a week, which
# would refuse 45 of the links (tests/unit/profile/test_profile_resolution.py covers that).
RULES = ResolutionRules.of(limits={"user_id": "1", "anonymous_id": f"{DEVICES}/7d"})
BUS_ATTEMPTS = 5  # what the bus gives a failing batch (Settings.max_attempts) before parking it


async def _deliver(batch: Sequence[CloudEvent], store: MongoProfileStore, bus: InMemoryBus) -> None:
    """One shard consumer's delivery of ``batch``, retried as the bus retries a failed batch."""
    for attempt in range(1, BUS_ATTEMPTS + 1):
        try:
            await handle_ingested(batch, store=store, publisher=bus, rules=RULES)
            return
        except IdentityConflictError:
            if attempt == BUS_ATTEMPTS:
                raise
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("per_batch", [1, 5], ids=["one event per batch", "batches of five"])
async def test_concurrent_identifies_with_one_email_make_exactly_one_customer(infra, per_batch):
    email = f"{unique('jo')}@example.com"
    identifies = [
        segment(
            "identify",
            f"identify-{device}",
            anonymousId=f"device-{device}",
            traits={"email": email},
            timestamp=at(10, device % 60),
        )
        for device in range(DEVICES)
    ]
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store, bus = MongoProfileStore(database), InMemoryBus()
        # Open a connection per consumer first, so the deliveries really run side by side.
        await asyncio.gather(*(database.command("ping") for _ in range(DEVICES)))

        batches = [identifies[i : i + per_batch] for i in range(0, DEVICES, per_batch)]
        await asyncio.gather(*(_deliver(batch, store, bus) for batch in batches))

        customers = {doc["_id"] async for doc in database[CUSTOMERS].find({})}
        assert len(customers) == 1, f"one person became {len(customers)} customers"
        [customer_id] = customers
        owners = {doc["_id"]: doc["customerId"] async for doc in database[IDENTITIES].find({})}
        ghosts = {key: owner for key, owner in owners.items() if owner not in customers}
        assert ghosts == {}, "identities owned by a customer id without a document"
        assert set(owners) == {f"email:{email}"} | {
            f"anonymous_id:device-{device}" for device in range(DEVICES)
        }
        assert set(owners.values()) == {customer_id}
        stored = {doc["_id"]: doc["customerId"] async for doc in database[EVENTS].find({})}
        assert stored == {event.id: customer_id for event in identifies}, "events lost"
        resolved = [e for e in bus.published if e.type == "io.threadline.customer.event.identify"]
        assert sorted(e.data["ingestId"] for e in resolved) == sorted(e.id for e in identifies)
        assert {e.subject for e in resolved} == {customer_id}
