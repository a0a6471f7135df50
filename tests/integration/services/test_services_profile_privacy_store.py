"""One contract for the privacy store, run against MongoDB (SecantusDB) and the in-memory twin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.in_memory_privacy import InMemoryPrivacyStore
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_privacy import INDEXES as PRIVACY_INDEXES
from services.profile.adapters.mongo_privacy import MongoPrivacyStore
from services.profile.adapters.mongo_quarantine import MongoQuarantine
from services.profile.adapters.ports import (
    CustomerWrite,
    ProfileStore,
    ProfileWrites,
    Quarantine,
    QuarantinedEvent,
    StoredEvent,
)
from services.profile.adapters.privacy_ports import PrivacyStore
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.privacy import PiiRead, PrivacyJob
from services.profile.domain.traits import TraitOp, TraitState
from tests.integration.services.services_support import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


@dataclass
class Stores:
    profile: ProfileStore
    privacy: PrivacyStore
    quarantine: Quarantine


@pytest.fixture(params=["mongodb", "in_memory"])
async def stores(request, infra) -> AsyncIterator[Stores]:
    if request.param == "in_memory":
        profile = InMemoryProfileStore()
        privacy = InMemoryPrivacyStore(profile)
        yield Stores(profile, privacy, privacy.quarantine)
        return
    async with scratch_database(infra.mongodb_url, (*INDEXES, *PRIVACY_INDEXES)) as database:
        yield Stores(
            MongoProfileStore(database), MongoPrivacyStore(database), MongoQuarantine(database)
        )


def trait(value: object) -> TraitState:
    return TraitState.of([TraitOp("set", value, T0, "ev-t0", "src", "web")])


async def saved_customer(profile: ProfileStore, customer_id: str) -> None:
    customer = Customer(
        id=customer_id,
        traits={"email": trait("jo@example.com"), "plan": trait("pro"), "a.b": trait(1)},
        channels=frozenset({"web"}),
        first_seen=T0,
        last_seen=T0,
    )
    email = Identity("email", f"{customer_id}@example.com")
    await profile.save(
        ProfileWrites(
            new_identities=(IdentityRecord(email, customer_id, T0, T0, "src"),),
            created=(customer_id,),
            customers=(CustomerWrite(customer, dict(customer.traits), {}),),
            events=(
                StoredEvent(
                    f"{customer_id}-e1",
                    customer_id,
                    "identify",
                    T0,
                    "web",
                    {"type": "identify", "userId": "u", "traits": {"plan": "pro"}},
                ),
            ),
        )
    )


async def test_tombstones_win_over_suppressions_and_outlive_unsuppress(stores):
    privacy = stores.privacy
    await privacy.suppress("c1", ["h1", "h2"], T0)
    await privacy.suppress("c2", ["h3"], T0)
    await privacy.tombstone(["h2"], "job-1", T0)
    await privacy.suppress("c1", ["h2"], T0)  # a tombstone is never downgraded

    assert await privacy.blocks(["h1", "h2", "h3", "h4"]) == {
        "h1": "suppressed",
        "h2": "erased",
        "h3": "suppressed",
    }

    await privacy.unsuppress("c1")

    assert await privacy.blocks(["h1", "h2", "h3"]) == {"h2": "erased", "h3": "suppressed"}
    assert await privacy.blocks([]) == {}


async def test_jobs_read_back_as_saved_newest_first(stores):
    privacy = stores.privacy
    first = PrivacyJob("j1", "export", "c1", "dpo", T0)
    second = PrivacyJob("j2", "delete", "c1", "dpo", T0 + timedelta(minutes=1))
    other = PrivacyJob("j3", "suppress", "c2", "dpo", T0 + timedelta(minutes=2))
    for job in (first, second, other):
        await privacy.add_job(job)
    await privacy.add_job(PrivacyJob("j1", "export", "c9", "someone-else", T0))

    report = {"customer": {"traits": {"a.b": {"value": 1}, "$x": 2}}, "events": []}
    done = replace(
        first.started().stepped("export"), report=report, hashes=("h1",), erased_ids=("c1",)
    ).done(T0 + timedelta(hours=1))
    await privacy.save_job(done)

    assert await privacy.job("j1") == done
    assert await privacy.job("nope") is None
    assert [j.id for j in await privacy.jobs("c1", 10)] == ["j2", "j1"]
    assert [j.id for j in await privacy.jobs(None, 2)] == ["j3", "j2"]


async def test_the_audit_log_pages_newest_first_without_gaps_or_repeats(stores):
    privacy = stores.privacy
    entries = [
        PiiRead(f"a{n}", T0 + timedelta(seconds=n // 2), "analyst", (f"c{n}",), ("f",), None)
        for n in range(7)
    ]
    for entry in entries:
        await privacy.record_read(entry)

    seen: list[str] = []
    after = None
    while True:
        page = await privacy.reads(3, after)
        if not page:
            break
        seen.extend(entry.id for entry in page)
        after = page[-1].position

    expected = sorted(entries, key=lambda e: e.position, reverse=True)
    assert seen == [entry.id for entry in expected]
    assert (await privacy.reads(1, None))[0] == expected[0]


async def test_erasure_empties_each_profile_collection_of_the_named_customers_only(stores):
    for customer_id in ("c1", "c2"):
        await saved_customer(stores.profile, customer_id)

    assert await stores.privacy.erase("events", ["c1"]) == 1
    assert await stores.privacy.erase("identities", ["c1"]) == 1
    assert await stores.privacy.erase("customers", ["c1"]) == 1
    assert await stores.privacy.erase("customers", ["c1"]) == 0

    assert set(await stores.profile.customers(["c1", "c2"])) == {"c2"}
    assert await stores.profile.identities("c1") == []
    assert await stores.profile.events("c1") == []
    assert len(await stores.profile.events("c2")) == 1


async def test_anonymization_rewrites_events_and_removes_named_traits(stores):
    await saved_customer(stores.profile, "c1")

    rewritten = await stores.privacy.rewrite_events("c1", lambda data: {"type": data["type"]})
    await stores.privacy.remove_traits("c1", ["email", "a.b"])

    assert rewritten == 1
    [event] = await stores.profile.events("c1")
    assert event.data == {"type": "identify"}
    customer = (await stores.profile.customers(["c1"]))["c1"]
    assert set(customer.traits) == {"plan"}


async def test_quarantined_events_are_erased_by_whole_identifier_values_only(stores):
    payloads = {
        "q1": '{"userId": "u-1", "timestamp": "yesterday"}',
        "q2": '{"traits": {"email": "JO@Example.com"}}',
        "q3": '{"userId": "u-12", "timestamp": "x"}',
        "q4": '{"traits": {"name": "Ren\\u00e9e"}, "userId": "x"}',
        "q5": '{"anonymousId": "a.b*c", "timestamp": "x"}',
    }
    await stores.quarantine.add(
        [QuarantinedEvent(k, "src", p, {"timestamp": "bad"}, T0) for k, p in payloads.items()]
    )

    gone = await stores.privacy.erase_quarantined(["u-1", "jo@example.com", "Renée", "a.b*c"])

    assert gone == 4
    assert [e.id for e in await stores.quarantine.browse(status=None)] == ["q3"]
    assert await stores.privacy.erase_quarantined([]) == 0


async def test_forgetting_reports_keeps_the_jobs(stores):
    job = replace(PrivacyJob("j1", "export", "c1", "dpo", T0), report={"events": []})
    other = replace(PrivacyJob("j2", "export", "c2", "dpo", T0), report={"events": []})
    await stores.privacy.add_job(job)
    await stores.privacy.add_job(other)

    await stores.privacy.forget_reports(["c1"])

    assert await stores.privacy.job("j1") == replace(job, report=None)
    assert await stores.privacy.job("j2") == other
