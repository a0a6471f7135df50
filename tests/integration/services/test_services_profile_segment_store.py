"""One contract for the segment store and the customer directory, run against MongoDB
(SecantusDB) and their in-memory twins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.profile.adapters import mongo_segments
from services.profile.adapters.directory_ports import CustomerDirectory, CustomerSearch
from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.in_memory_directory import InMemoryCustomerDirectory
from services.profile.adapters.in_memory_segments import InMemorySegmentStore
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_directory import MongoCustomerDirectory
from services.profile.adapters.ports import CustomerWrite, ProfileStore, ProfileWrites, StoredEvent
from services.profile.adapters.segment_ports import ScoreFact, SegmentJob, SegmentStore, StageFact
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.segment_membership import (
    Membership,
    MembershipWrite,
    SegmentDefinition,
)
from services.profile.domain.traits import TraitOp, TraitState
from tests.integration.services.services_support import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@dataclass
class Stores:
    profiles: ProfileStore
    segments: SegmentStore
    directory: CustomerDirectory


@pytest.fixture(params=["mongodb", "in_memory"])
async def stores(request, infra) -> AsyncIterator[Stores]:
    if request.param == "in_memory":
        profiles = InMemoryProfileStore()
        yield Stores(profiles, InMemorySegmentStore(profiles), InMemoryCustomerDirectory(profiles))
        return
    indexes = (*INDEXES, *mongo_segments.INDEXES)
    async with scratch_database(infra.mongodb_url, indexes) as database:
        yield Stores(
            MongoProfileStore(database),
            mongo_segments.MongoSegmentStore(database),
            MongoCustomerDirectory(database),
        )


def member(customer: str, seq: int = 1, **fields: Any) -> Membership:
    values: dict[str, Any] = {"member": True, "changed_at": T0, "version": 1, "published": False}
    return Membership("s1", customer, seq=seq, **{**values, **fields})


async def save_customer(profiles: ProfileStore, cid: str, name: str, email: str) -> None:
    trait = TraitState.of([TraitOp("set", name, T0, "ev-t0", "src", "web")])
    customer = Customer(id=cid, traits={"name": trait}, channels=frozenset({"web"}), first_seen=T0)
    await profiles.save(
        ProfileWrites(
            new_identities=(IdentityRecord(Identity("email", email), cid, T0, T0, "src"),),
            created=(cid,),
            customers=(CustomerWrite(customer, {"name": trait}, {}),),
            events=(
                StoredEvent(f"{cid}-old", cid, "track", T0, "web", {"event": "order_completed"}),
                StoredEvent(
                    f"{cid}-new",
                    cid,
                    "track",
                    T0 + timedelta(days=2),
                    "store",
                    {"event": "order_completed", "properties": {"revenue": "12.50"}},
                ),
            ),
        )
    )


async def test_membership_writes_apply_only_against_the_transition_they_were_decided_on(stores):
    segments = stores.segments
    first = MembershipWrite(member("c1"), expected_seq=0)

    assert await segments.write([first]) == []
    assert await segments.write([first]) == [first]  # decided against seq 0: seq is 1 now
    exit_write = MembershipWrite(member("c1", seq=2, member=False), expected_seq=1)
    assert await segments.write([exit_write]) == []

    stored = await segments.memberships(["c1", "c2"])
    assert stored == {"c1": {"s1": exit_write.record}, "c2": {}}


async def test_transitions_stay_unpublished_until_marked_for_their_own_seq(stores):
    segments = stores.segments
    await segments.write([MembershipWrite(member("c1"), 0), MembershipWrite(member("c2"), 0)])
    pending = await segments.unpublished(["c1"])
    assert [r.customer_id for r in pending] == ["c1"]

    await segments.mark_published([replace(pending[0], seq=7)])  # another transition's mark
    assert await segments.unpublished(["c1"]) == pending
    await segments.mark_published(pending)
    assert await segments.unpublished(["c1", "c2"]) == [member("c2")]


async def test_due_rechecks_are_claimed_by_one_worker_until_the_lease_runs_out(stores):
    segments = stores.segments
    due = member("c1", recheck_at=T0)
    later = replace(member("c2"), recheck_at=T0 + timedelta(hours=1))
    await segments.write([MembershipWrite(due, 0), MembershipWrite(later, 0)])

    assert await segments.claim_due(T0, LEASE, 10) == ["c1"]
    assert await segments.claim_due(T0 + timedelta(seconds=1), LEASE, 10) == []
    assert await segments.claim_due(T0 + LEASE, LEASE, 10) == ["c1"]  # lease ran out

    await segments.write([MembershipWrite(replace(due, recheck_at=None), 1)])
    assert await segments.claim_due(T0 + timedelta(hours=2), LEASE, 10) == ["c2"]


async def test_definitions_change_only_from_the_version_they_replace(stores):
    segments = stores.segments
    v1 = SegmentDefinition("s1", "Pro", {"trait": "plan", "eq": "pro"}, created_at=T0)
    v2 = replace(v1, version=2, condition_json={"trait": "plan", "eq": "free"})

    assert await segments.put_definition(v1) is True
    assert await segments.put_definition(v1) is False  # created twice
    assert await segments.put_definition(v2) is True
    assert await segments.put_definition(v2) is False  # someone else's v2 came first
    gone = replace(v2, version=3, deleted=True)
    assert await segments.put_definition(gone) is True

    assert await segments.definitions() == []
    assert await segments.definitions(deleted=True) == [gone]
    assert await segments.definition("s1") == gone


async def test_jobs_are_leased_advanced_by_their_holder_and_finished(stores):
    segments = stores.segments
    job = SegmentJob("j1", "s1", 1, T0, total=2)
    await segments.add_job(job)
    await segments.add_job(replace(job, total=99))  # the same job again: kept as it was

    claimed = await segments.claim_job(T0, LEASE)
    assert claimed is not None
    assert (claimed.status, claimed.total, claimed.started_at) == ("running", 2, T0)
    assert await segments.claim_job(T0, LEASE) is None  # held

    later = T0 + timedelta(seconds=5)
    moved = await segments.advance_job(replace(claimed, cursor="c1", processed=1), later, LEASE)
    assert moved is not None
    assert (moved.cursor, moved.processed, moved.claimed_until) == ("c1", 1, later + LEASE)
    assert await segments.advance_job(claimed, later, LEASE) is None  # a stale holder

    done = replace(moved, status="done", finished_at=later)
    finished = await segments.advance_job(done, later, LEASE)
    assert finished is not None
    assert finished.status == "done"
    assert await segments.claim_job(T0 + timedelta(days=1), LEASE) is None
    assert await segments.latest_job("s1") == finished


async def test_facts_keep_the_latest_stage_and_score_whatever_the_arrival_order(stores):
    segments = stores.segments
    await segments.record_facts(
        [
            StageFact("c1", "onboarding", "activated", T0 + timedelta(hours=1), "e2"),
            StageFact("c1", "onboarding", "signup", T0, "e1"),  # late
            StageFact("c1", "on.boarding", "x", T0, "e3"),  # a dot in the journey id
            ScoreFact("c1", "churnRisk", 0.4, T0, "s1"),
        ]
    )
    await segments.record_facts([ScoreFact("c1", "churnRisk", 0.9, T0 + timedelta(hours=2), "s2")])
    await segments.record_facts([StageFact("c1", "onboarding", "signup", T0, "e1")])  # repeated

    facts = await segments.outside_facts(["c1", "c2"])
    assert set(facts) == {"c1"}
    assert facts["c1"].journeys == {"onboarding": "activated", "on.boarding": "x"}
    assert facts["c1"].scores == {"churnRisk": 0.9}


async def test_recent_events_members_and_customer_pages(stores):
    for cid in ("c1", "c2", "c3"):
        await save_customer(stores.profiles, cid, f"name-{cid}", f"{cid}@example.com")
    segments = stores.segments

    recent = await segments.recent_events(["c1", "nobody"], T0 + timedelta(days=1))
    assert recent["nobody"] == []
    (event,) = recent["c1"]
    assert (event.name, event.channel, event.timestamp) == (
        "order_completed",
        "store",
        T0 + timedelta(days=2),
    )
    assert event.properties == {"revenue": "12.50"}
    assert len((await segments.recent_events(["c1"], None))["c1"]) == 2

    await segments.write([MembershipWrite(member(c), 0) for c in ("c1", "c2", "c3")])
    page = await segments.members("s1", 2, None)
    assert ([m.customer_id for m in page.members], page.has_next) == (["c1", "c2"], True)
    rest = await segments.members("s1", 2, "c2")
    assert ([m.customer_id for m in rest.members], rest.has_next) == (["c3"], False)
    assert await segments.size("s1") == 3

    assert await segments.customer_ids(None, 2) == ["c1", "c2"]
    assert await segments.customer_ids("c2", 2) == ["c3"]
    assert await segments.customer_count() == 3


async def test_directory_finds_customers_by_identity_or_trait_prefix_in_pages(stores):
    await save_customer(stores.profiles, "c1", "Jo Smith", "jo@example.com")
    await save_customer(stores.profiles, "c2", "Al Jones", "al@example.com")
    await save_customer(stores.profiles, "c3", "jody (a.b)", "x@example.com")
    directory = stores.directory
    email = Identity("email", "al@example.com")

    by_identity = await directory.search(CustomerSearch(identities=(email,)), 10, None)
    by_prefix = await directory.search(CustomerSearch(prefix="JO", traits=("name",)), 10, None)
    special = await directory.search(CustomerSearch(prefix="jody (a.", traits=("name",)), 10, None)
    either = CustomerSearch(identities=(email,), prefix="jo", traits=("name",))
    first = await directory.search(either, 2, None)
    rest = await directory.search(either, 2, "c2")

    assert by_identity.customer_ids == ["c2"]
    assert by_prefix.customer_ids == ["c1", "c3"]
    assert special.customer_ids == ["c3"]  # the prefix is text, not a pattern
    assert (first.customer_ids, first.has_next) == (["c1", "c2"], True)
    assert (rest.customer_ids, rest.has_next) == (["c3"], False)
    everyone = await directory.search(CustomerSearch(), 10, None)
    assert everyone.customer_ids == ["c1", "c2", "c3"]


async def test_merged_and_erased_ids_are_remembered_and_their_data_moved_or_forgotten(stores):
    segments = stores.segments
    await segments.record_facts(
        [
            StageFact("old", "onboarding", "activated", T0 + timedelta(hours=2), "e2"),
            StageFact("new", "onboarding", "signup", T0, "e1"),
            ScoreFact("old", "churnRisk", 0.9, T0, "s1"),
        ]
    )
    await segments.write([MembershipWrite(member("gone"), 0)])

    await segments.retire({"old": "new", "gone": None})
    await segments.retire({"gone": "new", "old": "other"})  # a merge never undoes either
    await segments.move_facts(["old"], "new")
    await segments.forget(["gone"])

    assert await segments.retired(["old", "gone", "new"]) == {"old": "new", "gone": None}
    facts = await segments.outside_facts(["old", "new"])
    assert set(facts) == {"new"}
    assert facts["new"].journeys == {"onboarding": "activated"}  # the later stage won
    assert facts["new"].scores == {"churnRisk": 0.9}
    assert await segments.memberships(["gone"]) == {"gone": {}}
