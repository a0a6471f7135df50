"""One contract for the profile store, run against MongoDB (SecantusDB) and the in-memory twin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.ports import (
    CustomerWrite,
    IdentityConflictError,
    ProfileStore,
    ProfileWrites,
    StoredEvent,
)
from services.profile.domain.consent import ConsentState
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.traits import TraitOp, TraitState
from tests.integration.services.services_support import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
ANON = Identity("anonymous_id", "anon-1")
EMAIL = Identity("email", "jo@example.com")


@pytest.fixture(params=["mongodb", "in_memory"])
async def store(request, infra) -> AsyncIterator[ProfileStore]:
    if request.param == "in_memory":
        yield InMemoryProfileStore()
        return
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        yield MongoProfileStore(database)


def trait(value: Any, at: datetime = T0, source: str = "src", channel: str = "web") -> TraitState:
    return TraitState.of([TraitOp("set", value, at, f"ev-{at.isoformat()}", source, channel)])


def first_batch(customer_id="c1") -> ProfileWrites:
    customer = Customer(
        id=customer_id,
        traits={"plan": trait("pro"), "address.city": trait("Leeds"), "$weird": trait(1)},
        consents={"ads": ConsentState("ads", "granted", T0, "src")},
        channels=frozenset({"web"}),
        first_seen=T0,
        last_seen=T0 + timedelta(minutes=5),
    )
    return ProfileWrites(
        new_identities=(
            IdentityRecord(ANON, customer_id, T0, T0 + timedelta(minutes=5), "src"),
            IdentityRecord(EMAIL, customer_id, T0, T0, "src"),
        ),
        customers=(CustomerWrite(customer, dict(customer.traits), dict(customer.consents)),),
        events=(
            StoredEvent("e1", customer_id, "page", T0, "web", {"type": "page", "name": "Home"}),
            StoredEvent("e2", customer_id, "track", T0 + timedelta(minutes=5), "web", {"x": 1}),
        ),
    )


async def test_saved_customer_reads_back_with_identities_and_events(store):
    await store.save(first_batch())

    customer = (await store.customers(["c1", "unknown"]))["c1"]
    assert customer.traits == first_batch().customers[0].customer.traits
    assert customer.consents["ads"].granted is True
    assert customer.channels == {"web"}
    assert (customer.first_seen, customer.last_seen) == (T0, T0 + timedelta(minutes=5))
    known = await store.known([ANON, EMAIL, Identity("user_id", "nobody")])
    assert {identity: record.customer_id for identity, record in known.items()} == {
        ANON: "c1",
        EMAIL: "c1",
    }
    assert (known[ANON].first_seen, known[ANON].last_seen) == (T0, T0 + timedelta(minutes=5))
    assert [r.identity for r in await store.identities("c1")] == [ANON, EMAIL]
    assert [e.id for e in await store.events("c1")] == ["e1", "e2"]
    assert (await store.events("c1"))[0].data == {"type": "page", "name": "Home"}


async def test_identities_of_many_customers_read_back_as_each_ones_own(store):
    await store.save(first_batch("c1"))
    user = Identity("user_id", "u2")
    await store.save(ProfileWrites(new_identities=(IdentityRecord(user, "c2", T0, T0, "src"),)))

    found = await store.identities_of(["c1", "c2", "nobody"])

    assert found == {
        "c1": await store.identities("c1"),
        "c2": await store.identities("c2"),
        "nobody": [],
    }
    assert [r.identity for r in found["c1"]] == [ANON, EMAIL]
    assert await store.identities_of([]) == {}


async def test_replaying_customers_events_and_sightings_converges_on_the_same_state(store):
    await store.save(first_batch())
    before = (
        await store.customers(["c1"]),
        await store.identities("c1"),
        await store.events("c1"),
    )
    # What a replayed batch writes: its identities are known by then, so they are sightings.
    batch = first_batch()
    replay = replace(batch, new_identities=(), sightings=batch.new_identities)

    await store.save(replay)
    await store.save(replay)

    after = (await store.customers(["c1"]), await store.identities("c1"), await store.events("c1"))
    assert after == before


async def test_later_batch_changes_only_its_traits_and_widens_sighting_times(store):
    await store.save(first_batch())
    later = T0 + timedelta(hours=2)
    customer = Customer(
        id="c1",
        traits={"plan": trait("enterprise", later)},
        channels=frozenset({"store"}),
        first_seen=later,
        last_seen=later,
    )

    await store.save(
        ProfileWrites(
            sightings=(IdentityRecord(ANON, "c1", later, later, "src"),),
            customers=(CustomerWrite(customer, {"plan": customer.traits["plan"]}, {}),),
        )
    )

    stored = (await store.customers(["c1"]))["c1"]
    assert stored.traits["plan"].value == "enterprise"
    assert stored.traits["address.city"].value == "Leeds"
    assert stored.channels == {"web", "store"}
    assert (stored.first_seen, stored.last_seen) == (T0, later)
    [anon] = [r for r in await store.identities("c1") if r.identity == ANON]
    assert (anon.first_seen, anon.last_seen) == (T0, later)


async def test_inserting_a_known_identity_again_is_a_conflict_and_writes_nothing_else(store):
    await store.save(first_batch("c1"))
    again = replace(first_batch("c1"), events=(StoredEvent("e3", "c1", "page", T0, "web", {}),))

    with pytest.raises(IdentityConflictError):
        await store.save(again)

    assert [e.id for e in await store.events("c1")] == ["e1", "e2"]


async def test_identity_owned_by_another_customer_is_a_conflict(store):
    await store.save(first_batch("c1"))

    with pytest.raises(IdentityConflictError, match="anonymous_id:anon-1"):
        await store.save(ProfileWrites(new_identities=(IdentityRecord(ANON, "c2", T0, T0, "src"),)))

    assert (await store.known([ANON]))[ANON].customer_id == "c1"


async def test_a_conflict_names_the_identity_without_its_personal_data(store):
    # The message ends up in the worker's logs and the parked message's error header.
    await store.save(first_batch("c1"))

    with pytest.raises(IdentityConflictError) as caught:
        await store.save(
            ProfileWrites(new_identities=(IdentityRecord(EMAIL, "c2", T0, T0, "src"),))
        )

    assert "email:j***@example.com" in str(caught.value)
    assert "jo@example.com" not in str(caught.value)


async def test_conflict_on_one_identity_claims_none_of_the_batch_and_creates_no_customer(store):
    await store.save(first_batch("c1"))
    user = Identity("user_id", "user-2")
    newcomer = Customer(id="c2", channels=frozenset({"web"}), first_seen=T0, last_seen=T0)

    with pytest.raises(IdentityConflictError, match="anonymous_id:anon-1"):
        await store.save(
            ProfileWrites(
                new_identities=tuple(
                    IdentityRecord(identity, "c2", T0, T0, "src")
                    for identity in (user, Identity("phone", "+49301234567"), ANON)
                ),
                created=("c2",),
                customers=(CustomerWrite(newcomer, {}, {}),),
            )
        )

    assert await store.known([user, Identity("phone", "+49301234567")]) == {}
    assert await store.customers(["c2"]) == {}
    assert (await store.known([ANON]))[ANON].customer_id == "c1"


async def test_created_customer_exists_with_its_claimed_identities(store):
    await store.save(replace(first_batch("c1"), created=("c1",)))

    assert set(await store.customers(["c1"])) == {"c1"}
    assert {r.customer_id for r in (await store.known([ANON, EMAIL])).values()} == {"c1"}
