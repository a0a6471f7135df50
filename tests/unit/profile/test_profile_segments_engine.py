"""Real-time segments over the in-memory twins: entering on new events, leaving when a
window expires (the scheduler on an injected clock), definition changes re-evaluating
everyone, facts from other services, and each transition published exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.profile import segment_admin
from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.in_memory_segments import InMemorySegmentStore
from services.profile.handlers import handle_ingested
from services.profile.segmenting import SegmentEngine
from shared.bus.in_memory import InMemoryBus
from shared.errors import BusError
from shared.events import CloudEvent
from tests.unit.profile.profile_events import at, segment

NOON = datetime(2026, 3, 1, 12, tzinfo=UTC)
REPEAT_BUYERS = {"event": "Order Completed", "count": {"gte": 2}, "within": "P30D"}


@dataclass
class Clock:
    now: datetime = NOON

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    profiles: InMemoryProfileStore
    segments: InMemorySegmentStore
    bus: InMemoryBus
    clock: Clock
    engine: SegmentEngine

    async def ingest(self, *events: CloudEvent) -> None:
        await handle_ingested(
            list(events), store=self.profiles, publisher=self.bus, on_saved=self.engine.refresh
        )

    async def define(self, name: str, condition: dict[str, Any]) -> str:
        definition, _ = await segment_admin.create_segment(
            self.segments, name=name, condition=condition, description="", now=self.clock.now
        )
        await self.finish_jobs()
        return definition.id

    async def finish_jobs(self) -> None:
        for _ in range(100):
            job = await self.engine.run_job(self.clock.now)
            if job is None:
                return
        raise AssertionError("jobs did not finish")

    def transitions(self) -> list[tuple[str, str, str]]:
        return [
            (e.type.rsplit(".", 1)[1], e.data["customerId"], e.data["segmentName"])
            for e in self.bus.published
            if e.type.startswith("io.threadline.segment.")
        ]

    def customer(self, user_id: str) -> str:
        for identity, record in self.profiles.identity_docs.items():
            if identity.type == "user_id" and identity.value == user_id:
                return record.customer_id
        raise AssertionError(f"no customer {user_id}")


@pytest.fixture
def world() -> World:
    profiles = InMemoryProfileStore()
    segments = InMemorySegmentStore(profiles)
    bus = InMemoryBus()
    clock = Clock()
    engine = SegmentEngine(profiles, segments, bus, clock=clock)
    return World(profiles, segments, bus, clock, engine)


def order(message_id: str, user: str, hour: int, revenue: float = 10.0) -> CloudEvent:
    return segment(
        "track",
        message_id,
        userId=user,
        event="Order Completed",
        properties={"order_id": message_id, "revenue": revenue, "currency": "USD"},
        timestamp=at(hour),
    )


async def test_customer_enters_when_a_new_event_meets_the_condition(world):
    await world.define("Repeat buyers", REPEAT_BUYERS)

    await world.ingest(order("o1", "u1", 9))
    assert world.transitions() == []

    await world.ingest(order("o2", "u1", 10))
    jo = world.customer("u1")
    assert world.transitions() == [("entered", jo, "Repeat buyers")]
    entered = world.bus.published[-1]
    assert entered.subject == entered.partitionkey == jo
    assert entered.data["version"] == 1
    assert entered.data["at"] == "2026-03-01T12:00:00.000Z"


async def test_replayed_batch_publishes_no_transition_again(world):
    await world.define("Repeat buyers", REPEAT_BUYERS)
    batch = [order("o1", "u1", 9), order("o2", "u1", 10)]
    await world.ingest(*batch)
    published = len(world.bus.published)

    await world.ingest(*batch)

    assert len(world.transitions()) == 1
    new = world.bus.published[published:]
    assert all(not e.type.startswith("io.threadline.segment.") for e in new)


async def test_membership_expires_with_its_window_without_new_events(world):
    await world.define("Repeat buyers", REPEAT_BUYERS)
    await world.ingest(order("o1", "u1", 9), order("o2", "u1", 10))
    jo = world.customer("u1")
    expiry = datetime(2026, 3, 31, 9, tzinfo=UTC)  # the first order leaves the 30 days

    await world.engine.tick(expiry - timedelta(seconds=1))
    assert world.transitions() == [("entered", jo, "Repeat buyers")]

    await world.engine.tick(expiry)
    assert world.transitions() == [
        ("entered", jo, "Repeat buyers"),
        ("exited", jo, "Repeat buyers"),
    ]
    assert await world.segments.size((await world.segments.definitions())[0].id) == 0

    await world.engine.tick(expiry + timedelta(days=1))  # nothing more is due
    assert len(world.transitions()) == 2


async def test_not_condition_enters_when_the_window_empties(world):
    await world.define("Lapsed", {"not": {"event": "order_completed", "within": "PT6H"}})
    await world.ingest(order("o1", "u1", 10))
    jo = world.customer("u1")
    assert world.transitions() == []

    await world.engine.tick(datetime(2026, 3, 1, 16, tzinfo=UTC))

    assert world.transitions() == [("entered", jo, "Lapsed")]


async def test_definition_change_re_evaluates_everyone_in_a_job(world):
    await world.ingest(
        segment("identify", "i1", userId="u1", traits={"plan": "pro"}, timestamp=at(9)),
        segment("identify", "i2", userId="u2", traits={"plan": "free"}, timestamp=at(9)),
    )
    pro, free = world.customer("u1"), world.customer("u2")
    segment_id = await world.define("Plan", {"trait": "plan", "eq": "pro"})
    assert world.transitions() == [("entered", pro, "Plan")]

    definition, job = await segment_admin.update_segment(
        world.segments, segment_id, now=NOON, condition={"trait": "plan", "eq": "free"}
    )
    assert (definition.version, job.status, job.total) == (2, "pending", 2)
    await world.engine.tick(NOON)

    assert sorted(world.transitions()[1:]) == [("entered", free, "Plan"), ("exited", pro, "Plan")]
    done = await world.segments.latest_job(segment_id)
    assert done is not None
    assert (done.status, done.processed, done.version) == ("done", 2, 2)
    members = await world.segments.members(segment_id, 10, None)
    assert [(m.customer_id, m.version) for m in members.members] == [(free, 2)]


async def test_deleting_a_segment_makes_every_member_exit(world):
    await world.ingest(
        segment("identify", "i1", userId="u1", traits={"vip": True}, timestamp=at(9))
    )
    segment_id = await world.define("VIP", {"trait": "vip", "eq": True})

    await segment_admin.delete_segment(world.segments, segment_id, now=NOON)
    await world.finish_jobs()

    assert [t[0] for t in world.transitions()] == ["entered", "exited"]
    assert await world.segments.definitions() == []


async def test_a_transition_that_failed_to_publish_is_published_by_the_retry(world):
    await world.define("Repeat buyers", REPEAT_BUYERS)
    batch = [order("o1", "u1", 9), order("o2", "u1", 10)]
    await world.ingest(batch[0])
    world.engine.publisher = broken = InMemoryBus()
    broken.broker_down = True

    with pytest.raises(BusError):
        await world.ingest(batch[1])  # resolved and saved, the bus is down: not acked

    world.engine.publisher = world.bus
    await world.ingest(batch[1])  # redelivered
    await world.ingest(batch[1])  # and once more

    assert world.transitions() == [("entered", world.customer("u1"), "Repeat buyers")]


async def test_journey_stage_and_score_facts_from_other_services_drive_segments(world):
    await world.ingest(segment("identify", "i1", userId="u1", traits={}, timestamp=at(9)))
    jo = world.customer("u1")
    await world.define(
        "Activated at risk",
        {
            "and": [
                {"journey": "onboarding", "stage": "activated"},
                {"score": "churnRisk", "gte": 0.7},
            ]
        },
    )

    def stage(event_id: str, name: str, hour: int) -> CloudEvent:
        return CloudEvent(
            type="io.threadline.journey.stage_changed",
            source="threadline/journey",
            id=event_id,
            data={
                "customerId": jo,
                "journeyId": "onboarding",
                "journeyVersion": 1,
                "stage": name,
                "previousStage": None,
                "enteredAt": at(hour),
                "causedBy": "x",
            },
        )

    score = CloudEvent(
        type="io.threadline.score.changed",
        source="threadline/scoring",
        id="s1",
        data={
            "customerId": jo,
            "score": "churnRisk",
            "value": 0.8,
            "previous": 0.4,
            "threshold": 0.7,
            "direction": "above",
            "at": at(11),
        },
    )
    await world.engine.handle_facts([stage("j2", "activated", 10), score])
    await world.engine.handle_facts([stage("j1", "signup", 9)])  # late: an older stage

    assert world.transitions() == [("entered", jo, "Activated at risk")]


async def test_a_malformed_fact_names_the_field():
    profiles = InMemoryProfileStore()
    engine = SegmentEngine(profiles, InMemorySegmentStore(profiles), InMemoryBus())
    bad = CloudEvent(type="io.threadline.score.changed", source="s", id="e1", data={"score": "nps"})

    with pytest.raises(Exception, match="`customerId` must be a non-empty string"):
        await engine.handle_facts([bad])


def identity_change(kind: str, event_id: str, **data: Any) -> CloudEvent:
    return CloudEvent(
        type=f"io.threadline.customer.{kind}",
        source="threadline/profile",
        id=event_id,
        data={"at": "2026-03-01T12:00:00.000Z", **data},
    )


def score_event(event_id: str, customer_id: str, value: float, hour: int) -> CloudEvent:
    return CloudEvent(
        type="io.threadline.score.changed",
        source="threadline/scoring",
        id=event_id,
        data={"customerId": customer_id, "score": "churnRisk", "value": value, "at": at(hour)},
    )


async def test_merge_moves_facts_to_the_survivor_and_ends_the_merged_ids_memberships(world):
    await world.ingest(
        segment("identify", "i1", userId="u1", traits={}, timestamp=at(9)),
        segment("identify", "i2", userId="u2", traits={}, timestamp=at(9)),
    )
    survivor, merged = world.customer("u1"), world.customer("u2")
    await world.define("At risk", {"score": "churnRisk", "gte": 0.7})
    await world.engine.handle_facts([score_event("s1", merged, 0.9, 10)])
    assert world.transitions() == [("entered", merged, "At risk")]

    merge = identity_change(
        "merged", "m1", customerId=survivor, mergedIds=[merged], causedBy="i1", reason="email"
    )
    await world.engine.handle_facts([merge])
    assert sorted(world.transitions()[1:]) == [
        ("entered", survivor, "At risk"),
        ("exited", merged, "At risk"),
    ]

    # A late fact about the merged-away id (another shard) lands on the survivor.
    await world.engine.handle_facts([score_event("s2", merged, 0.1, 11)])
    assert world.transitions()[-1] == ("exited", survivor, "At risk")
    await world.finish_jobs()
    await world.engine.tick(NOON)
    assert len(world.transitions()) == 4  # the merged id's customer document never re-enters


async def test_erasure_ends_memberships_forgets_them_and_drops_later_facts(world):
    await world.ingest(
        segment("identify", "i1", userId="u1", traits={"vip": True}, timestamp=at(9))
    )
    jo = world.customer("u1")
    segment_id = await world.define("VIP", {"trait": "vip", "eq": True})
    await world.engine.handle_facts([score_event("s1", jo, 0.9, 10)])

    erased = identity_change("erased", "x1", customerId=jo, erasedIds=[jo], jobId="job-1")
    await world.engine.handle_facts([erased])

    assert world.transitions() == [("entered", jo, "VIP"), ("exited", jo, "VIP")]
    assert await world.segments.memberships([jo]) == {jo: {}}
    assert await world.segments.outside_facts([jo]) == {}
    await world.engine.handle_facts([score_event("s2", jo, 0.5, 11)])  # late, dropped
    assert await world.segments.outside_facts([jo]) == {}
    await segment_admin.update_segment(world.segments, segment_id, now=NOON, name="VIPs")
    await world.finish_jobs()  # the stored customer document is not evaluated again
    assert len(world.transitions()) == 2


async def test_identity_consent_and_channel_conditions_read_the_customer(world):
    await world.ingest(
        segment(
            "identify",
            "i1",
            userId="u1",
            traits={"email": "jo@example.com"},
            timestamp=at(9),
            context={"channel": "store", "consent": {"categoryPreferences": {"marketing": True}}},
        ),
        segment("identify", "i2", userId="u2", traits={}, timestamp=at(9)),
    )
    jo = world.customer("u1")

    await world.define(
        "Reachable in store",
        {
            "and": [
                {"identity": "email"},
                {"consent": "marketing", "status": "granted"},
                {"channel": "store"},
            ]
        },
    )

    assert world.transitions() == [("entered", jo, "Reachable in store")]
