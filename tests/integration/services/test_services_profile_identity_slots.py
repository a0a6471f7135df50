"""Per-type identity limits under concurrency, on the real MongoDB: limit slots.

A customer known by an email on two devices (anonymous ids A1 and A2) signs in on
both at once with different userIds. Events are sharded by anonymousId, so the two logins are
decided by two consumers (two store instances on two clients, as two worker
processes) that read the customer at the same moment: both see it without a
user_id. The interleaving is forced: each store waits, before its first save, until
the other has decided too. Without slots both attach and the customer ends with two
user_ids, against the rule of one ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.profile.adapters.mongo import IDENTITIES, INDEXES, MongoProfileStore
from services.profile.adapters.ports import IdentityConflictError, ProfileWrites
from services.profile.domain.identity import Identity
from services.profile.domain.merging import MergePlan
from services.profile.domain.resolution_rules import DEFAULT_RULES, ResolutionRules
from services.profile.handlers import handle_ingested
from services.profile.merges import split_customer
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document, Mongo
from tests.integration.services.services_support import scratch_database, unique
from tests.unit.profile.profile_events import at, segment

pytestmark = pytest.mark.integration

SLOTS = "identity_slots"
ONE_USER_ID = "a customer may have at most 1 user_id ever"


class DecidesThenWaits(MongoProfileStore):
    """The real store, whose first write (a save or a merge) waits until every decider
    has decided."""

    def __init__(self, database: AsyncDatabase[Document], barrier: asyncio.Barrier) -> None:
        super().__init__(database)
        self._barrier: asyncio.Barrier | None = barrier

    async def _decided(self) -> None:
        barrier, self._barrier = self._barrier, None
        if barrier is not None:
            async with asyncio.timeout(10):
                await barrier.wait()

    async def save(self, writes: ProfileWrites) -> None:
        await self._decided()
        await super().save(writes)

    async def merge(self, plan: MergePlan) -> None:
        await self._decided()
        await super().merge(plan)


@dataclass
class Shards:
    database: AsyncDatabase[Document]
    other: AsyncDatabase[Document]
    bus: InMemoryBus

    async def deliver(self, *events: CloudEvent, rules: ResolutionRules = DEFAULT_RULES) -> None:
        for event in events:
            store = MongoProfileStore(self.database)
            await handle_ingested([event], store=store, publisher=self.bus, rules=rules)

    async def race(self, *events: CloudEvent, rules: ResolutionRules = DEFAULT_RULES) -> None:
        """Each event on its own consumer (alternating clients), all deciding on one read."""
        barrier = asyncio.Barrier(len(events))
        databases = [self.database, self.other]
        await asyncio.gather(
            *(
                handle_ingested(
                    [event],
                    store=DecidesThenWaits(databases[i % 2], barrier),
                    publisher=self.bus,
                    rules=rules,
                )
                for i, event in enumerate(events)
            )
        )

    async def owned(self, kind: str) -> dict[str, str]:
        """The identifiers of ``kind``, each with its owner."""
        cursor = self.database[IDENTITIES].find({"type": kind})
        return {str(doc["value"]): str(doc["customerId"]) async for doc in cursor}

    async def slot_ids(self) -> list[str]:
        return sorted([str(doc["_id"]) async for doc in self.database[SLOTS].find({})])


@pytest.fixture
async def shards(infra) -> AsyncIterator[Shards]:
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        other = Mongo(infra.mongodb_url)
        try:
            yield Shards(database, other.database(database.name), InMemoryBus())
        finally:
            await other.close()


def _two_devices(email: str) -> list[CloudEvent]:
    return [
        segment(
            "identify",
            f"seen-{d}",
            anonymousId=f"{email}-A{d}",
            traits={"email": email},
            timestamp=at(9, d),
        )
        for d in (1, 2)
    ]


def _login(email: str, device: int, user_id: str) -> CloudEvent:
    """A sign-in on one device: the userId with the email the customer is known by."""
    return segment("identify", f"login-{user_id}", anonymousId=f"{email}-A{device}",
                   userId=user_id, traits={"email": email}, timestamp=at(10))  # fmt: skip


async def test_concurrent_logins_with_two_user_ids_link_exactly_one_and_log_the_refusal(shards):
    email = f"{unique('jo')}@example.com"
    await shards.deliver(*_two_devices(email))
    [customer_id] = set((await shards.owned("anonymous_id")).values())
    logins = {"U1": _login(email, 1, "U1"), "U2": _login(email, 2, "U2")}

    await shards.race(*logins.values())

    user_ids = await shards.owned("user_id")
    assert sorted(user_ids) == ["U1", "U2"]
    [linked] = [u for u, owner in user_ids.items() if owner == customer_id]
    [refused] = set(logins) - {linked}
    # As if decided one after the other: the later login keeps its user_id on a customer
    # of its own, and its links to the customer (email, device) are refused and logged.
    loser = user_ids[refused]
    assert loser != customer_id
    store = MongoProfileStore(shards.database)
    refusals = [e for e in await store.merge_log(loser) if e.kind == "refused"]
    assert (ONE_USER_ID, (Identity("email", email),), (customer_id,)) in [
        (e.reason, e.identities, e.others) for e in refusals
    ]
    assert {e.caused_by for e in refusals} == {logins[refused].id}
    assert not [e for e in await store.merge_log(customer_id) if e.kind == "refused"]
    assert logins[linked].id in {e.id for e in await store.events(customer_id)}
    assert logins[refused].id in {e.id for e in await store.events(loser)}, "a login was lost"
    # The login decided again created its customer, which takes that customer's first slot.
    assert await shards.slot_ids() == sorted(f"{c}|user_id|0" for c in (customer_id, loser))


async def test_a_replayed_login_keeps_its_slot_and_claims_no_second_one(shards):
    email = f"{unique('jo')}@example.com"
    await shards.deliver(*_two_devices(email))
    login = _login(email, 1, "U1")

    await shards.deliver(login)
    await shards.deliver(login)  # redelivered after a crash before its ack
    await shards.race(login)  # and once more, by a consumer that decided beside nothing

    [customer_id] = set((await shards.owned("anonymous_id")).values())
    assert await shards.owned("user_id") == {"U1": customer_id}
    assert await shards.slot_ids() == [f"{customer_id}|user_id|0"]


async def test_a_save_replayed_after_its_slots_landed_passes_and_writes_them_once(shards):
    email = f"{unique('jo')}@example.com"
    await shards.deliver(*_two_devices(email))
    login = _login(email, 1, "U1")
    writes: list[ProfileWrites] = []

    class Recording(MongoProfileStore):
        async def save(self, w: ProfileWrites) -> None:
            writes.append(w)
            await super().save(w)

    await handle_ingested([login], store=Recording(shards.database), publisher=shards.bus)
    [saved] = writes
    assert [s.ordinal for s in saved.slots] == [0]
    # The slot landed but the identities were released (the slot insert's reply was lost):
    # the replayed save finds the slot its own holder claimed, and passes.
    await shards.database[IDENTITIES].delete_many({"type": "user_id"})
    store = MongoProfileStore(shards.database)
    await store.save(saved)
    # Saved again as it is: the identity is claimed, the slot stays one.
    with pytest.raises(IdentityConflictError):
        await store.save(saved)

    [customer_id] = set((await shards.owned("anonymous_id")).values())
    assert await shards.owned("user_id") == {"U1": customer_id}
    assert await shards.slot_ids() == [f"{customer_id}|user_id|0"]


async def test_a_lost_slot_releases_the_identities_its_batch_claimed(shards):
    email = f"{unique('jo')}@example.com"
    await shards.deliver(*_two_devices(email))
    [customer_id] = set((await shards.owned("anonymous_id")).values())
    await shards.database[SLOTS].insert_one(
        {"_id": f"{customer_id}|user_id|0", "customerId": customer_id, "holder": "another batch"}
    )
    writes: list[ProfileWrites] = []

    class Once(MongoProfileStore):
        async def save(self, w: ProfileWrites) -> None:
            writes.append(w)
            await super().save(w)

    with pytest.raises(IdentityConflictError):
        # Every decision of the batch meets the slot: the bus's retries take over.
        await handle_ingested(
            [_login(email, 1, "U1")], store=Once(shards.database), publisher=shards.bus
        )

    assert len(writes) > 1, "the batch was not decided again after losing its slot"
    assert await shards.owned("user_id") == {}
    assert await shards.slot_ids() == [f"{customer_id}|user_id|0"]


async def test_after_a_merge_slots_count_what_the_survivor_holds(shards):
    # Three user_ids allowed: the survivor of a merge holds two, so two concurrent
    # logins both count two, and only one of them may take the third place.
    rules = ResolutionRules.of(limits={"user_id": "3", "anonymous_id": "10/7d"})
    email = f"{unique('jo')}@example.com"
    first = segment("identify", "first", anonymousId="K1", userId="U1", timestamp=at(8))
    second = segment("identify", "second", anonymousId="K2", userId="U2",
                     traits={"email": email}, timestamp=at(9))  # fmt: skip
    joined = segment("track", "joined", anonymousId="K1", userId="U1", event="Linked",
                     context={"traits": {"email": email}}, timestamp=at(9, 30))  # fmt: skip
    await shards.deliver(first, second, joined, rules=rules)
    owners = await shards.owned("user_id")
    [survivor] = set(owners.values())
    assert set(owners) == {"U1", "U2"}, "the two customers did not merge"

    logins = [
        segment(
            "identify",
            f"login-{u}",
            anonymousId=k,
            userId=u,
            traits={"email": email},
            timestamp=at(10),
        )
        for k, u in (("K1", "U3"), ("K2", "U4"))
    ]
    await shards.race(*logins, rules=rules)

    owners = await shards.owned("user_id")
    held = {u for u, owner in owners.items() if owner == survivor}
    assert len(held) == 3, owners
    assert {"U1", "U2"} < held
    [refused] = {"U3", "U4"} - held
    log = await MongoProfileStore(shards.database).merge_log(owners[refused])
    assert "a customer may have at most 3 user_id ever" in [
        e.reason for e in log if e.kind == "refused"
    ]
    assert f"{survivor}|user_id|2" in await shards.slot_ids()


async def test_a_login_racing_a_merge_leaves_no_customer_with_two_user_ids(shards):
    # S is known by an email on device K1; L has user_id U2 and a phone. One event carries
    # S's email and L's phone: it merges them (one user_id between them). At the same
    # moment a login on K1 links U9 to S, deciding on S as it was before the merge.
    email, phone = f"{unique('jo')}@example.com", "+49301234567"
    s_seen = segment("identify", "s", anonymousId="K1", traits={"email": email}, timestamp=at(8))
    l_seen = segment("identify", "l", anonymousId="K2", userId="U2", traits={"phone": phone},
                     timestamp=at(9))  # fmt: skip
    await shards.deliver(s_seen, l_seen)
    joining = segment("identify", "joining", anonymousId="K3",
                      traits={"email": email, "phone": phone}, timestamp=at(10))  # fmt: skip
    login = segment("identify", "login", anonymousId="K1", userId="U9", traits={"email": email},
                    timestamp=at(10, 1))  # fmt: skip

    await shards.race(joining, login)

    roots = {
        str(doc["_id"])
        async for doc in shards.database["customers"].find({"mergedInto": {"$exists": False}})
    }
    owners = await shards.owned("user_id")
    assert set(owners) == {"U2", "U9"}
    assert set(owners.values()) <= roots, "a user_id stayed with a merged-away customer"
    assert len(set(owners.values())) == 2, f"one customer holds two user_ids: {owners}"
    store = MongoProfileStore(shards.database)
    stored = {e.id for root in roots for e in await store.events(root)}
    assert {joining.id, login.id} <= stored, "an event was lost"


async def test_after_a_split_the_original_takes_a_new_user_id_again(shards):
    email = f"{unique('jo')}@example.com"
    await shards.deliver(*_two_devices(email), _login(email, 1, "U1"))
    [customer_id] = set((await shards.owned("user_id")).values())
    store = MongoProfileStore(shards.database)
    await split_customer(
        store, shards.bus, customer_id=customer_id, identities=[Identity("user_id", "U1")],
        reason="two people", operator="op-1", at=datetime(2026, 3, 1, 11, tzinfo=UTC),
    )  # fmt: skip

    # The place U1 held was counted with U1: the next login is not refused by it.
    await shards.deliver(_login(email, 2, "U2"))

    owners = await shards.owned("user_id")
    assert owners["U2"] == customer_id
    assert owners["U1"] != customer_id
