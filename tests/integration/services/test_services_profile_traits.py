"""Traits and consents on the real MongoDB adapter: concurrent, out-of-order writers converge.

Two store instances on two clients (two worker processes) resolve the events of
one customer at once, delivered in a shuffled order. Whatever interleaving the
database sees, the stored traits and consents are what applying the events one
by one in event-time order gives.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.ports import (
    ConsentEntry,
    CustomerWrite,
    ProfileStore,
    ProfileWrites,
)
from services.profile.consent_handlers import SetConsent, handle_set_consent
from services.profile.domain.consent import ConsentState
from services.profile.domain.customer import Customer
from services.profile.domain.traits import TraitOp, TraitRules, TraitState
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent
from shared.mongo import Mongo
from tests.integration.services.services_support import scratch_database, unique
from tests.unit.profile.profile_events import segment

pytestmark = pytest.mark.integration

RULES = TraitRules.of({"visits": "sum", "tags": "union", "best": "max", "origin": "first"})
EVENTS = 40
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _events(user_id: str, seed: int) -> list[CloudEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(EVENTS):
        when = T0 + timedelta(seconds=7 * i, microseconds=123_457 * (i % 5))
        traits: dict[str, Any] = {
            "plan": f"plan-{i}",
            "visits": 1,
            "tags": [f"tag-{i % 6}"],
            "best": rng.randint(0, 1000),
            "origin": f"origin-{i}",
            "$set_once": {"referrer": f"referrer-{i}"},
        }
        if i % 7 == 3:
            traits["$unset"] = ["coupon"]
        elif i % 7 == 5:
            traits["coupon"] = f"coupon-{i}"
        events.append(
            segment(
                "identify",
                f"m-{user_id}-{i}",
                userId=user_id,
                traits=traits,
                timestamp=when.isoformat().replace("+00:00", "Z"),
                context={
                    "channel": rng.choice(["web", "store", "mobile_app"]),
                    "consent": {"categoryPreferences": {"marketing": rng.random() < 0.5}},
                },
            )
        )
    return events


def _view(customer: Customer) -> tuple[dict[str, Any], dict[str, Any]]:
    traits = {
        name: (state.value, state.event_id, state.source, state.channel, state.updated_at)
        for name, state in customer.traits.items()
        if state.present
    }
    consents = {key: (c.status, c.event_id) for key, c in customer.consents.items()}
    return traits, consents


async def _deliver(batch: Sequence[CloudEvent], store: ProfileStore, bus: InMemoryBus) -> None:
    await handle_ingested(batch, store=store, publisher=bus, traits=RULES)


@pytest.mark.slow
async def test_two_processes_writing_one_customer_out_of_order_converge_on_event_time_order(
    infra,
):
    user_id = unique("racer")
    events = _events(user_id, seed=7)
    expected_store = InMemoryProfileStore()
    for event in events:  # the oracle: one at a time, in event-time order
        await _deliver([event], expected_store, InMemoryBus())
    [expected] = expected_store.customer_docs.values()

    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        other = Mongo(infra.mongodb_url)
        try:
            stores = [MongoProfileStore(database), MongoProfileStore(other.database(database.name))]
            bus = InMemoryBus()
            await _deliver(events[:1], stores[0], bus)  # the customer exists: no identity race
            late_first = events[1:]
            random.Random(11).shuffle(late_first)
            await asyncio.gather(
                *(_deliver([e], stores[i % 2], bus) for i, e in enumerate(late_first))
            )
            [stored] = (
                await stores[1].customers([next(iter(expected_store.customer_docs))])
            ).values()
        finally:
            await other.close()

    assert _view(stored) == _view(expected)
    assert stored.traits["visits"].value == EVENTS
    assert stored.traits["plan"].value == f"plan-{EVENTS - 1}"
    assert stored.traits["referrer"].value == "referrer-0"


@pytest.fixture(params=["mongodb", "in_memory"])
async def store(request, infra) -> AsyncIterator[ProfileStore]:
    if request.param == "in_memory":
        yield InMemoryProfileStore()
        return
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        yield MongoProfileStore(database)


def _write(customer: Customer) -> ProfileWrites:
    return ProfileWrites(
        customers=(CustomerWrite(customer, dict(customer.traits), dict(customer.consents)),)
    )


async def test_trait_states_read_back_equal_with_their_statements(store):
    at = T0 + timedelta(microseconds=123_456)  # finer than a BSON date
    visits = TraitState.of(
        [TraitOp("set", 2, at, "e1", "src", "web"), TraitOp("set", 3, at, "e2", "src", "store")],
        "sum",
    )
    gone = TraitState.of(
        [TraitOp("set", "x", at, "e1", "src", "web"), TraitOp("unset", None, at, "e2", "s", "web")]
    )
    customer = Customer(id="c1", traits={"visits": visits, "coupon": gone}, first_seen=at)

    await store.save(_write(customer))
    await store.save(_write(customer))  # replayed: counted once

    stored = (await store.customers(["c1"]))["c1"]
    assert stored.traits == {"visits": visits, "coupon": gone}
    assert stored.traits["visits"].value == 5
    assert not stored.traits["coupon"].present


async def test_a_stale_writer_never_undoes_a_newer_trait_or_consent(store):
    newer = TraitState.of([TraitOp("set", "pro", T0 + timedelta(hours=1), "e2", "s", "web")])
    older = TraitState.of([TraitOp("set", "free", T0, "e1", "s", "web")])
    granted = ConsentState("marketing", "granted", T0 + timedelta(hours=1), "s", "e2")
    denied = ConsentState("marketing", "denied", T0, "s", "e1")
    await store.save(
        _write(Customer(id="c1", traits={"plan": newer}, consents={"marketing": granted}))
    )

    # Written from a state read before the newer one was stored.
    await store.save(
        _write(Customer(id="c1", traits={"plan": older}, consents={"marketing": denied}))
    )

    stored = (await store.customers(["c1"]))["c1"]
    assert stored.traits["plan"].value == "pro"
    assert stored.consents["marketing"].status == "granted"


async def test_consent_history_keeps_every_statement_once_oldest_first(store):
    statements = [
        ConsentState("marketing", "granted", T0 + timedelta(minutes=5), "web", "e2"),
        ConsentState("marketing", "denied", T0, "crm", "e1", "email"),
        ConsentState("analytics", "revoked", T0 + timedelta(minutes=5), "web", "e2"),
    ]
    writes = ProfileWrites(consent_history=tuple(ConsentEntry("c1", s) for s in statements))

    await store.save(writes)
    await store.save(writes)

    history = await store.consent_history("c1")
    assert [(e.statement.key, e.statement.status) for e in history] == [
        ("channel:email", "denied"),
        ("analytics", "revoked"),
        ("marketing", "granted"),
    ]
    assert [e.statement for e in history] == [statements[1], statements[2], statements[0]]
    assert await store.consent_history("nobody") == []


async def test_set_consent_on_the_real_store_is_state_history_and_one_event(infra):
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store, bus = MongoProfileStore(database), InMemoryBus()
        await _deliver(_events(unique("consenter"), seed=3)[:1], store, bus)
        [customer_id] = [doc["_id"] async for doc in database["customers"].find({})]
        command = SetConsent(customer_id, "sale_sharing", "revoked", "call_center", None, "op-1")

        first = await handle_set_consent(command, store=store, publisher=bus)
        again = await handle_set_consent(command, store=store, publisher=bus)  # same status

        customer = (await store.customers([customer_id]))[customer_id]
        assert customer.consents["sale_sharing"] == again
        assert again.updated_at > first.updated_at
        history = await store.consent_history(customer_id)
        assert [e.statement.purpose for e in history][-2:] == ["sale_sharing", "sale_sharing"]
        changed = [e for e in bus.published if e.type == "io.threadline.consent.changed"]
        assert [e.data["purpose"] for e in changed if e.data["purpose"] == "sale_sharing"] == [
            "sale_sharing"
        ]
