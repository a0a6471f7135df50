"""The segment store in dicts: the unit-test twin of :class:`MongoSegmentStore`.

It reads customers and events from an :class:`InMemoryProfileStore`, as the MongoDB
adapter reads the profile's own collections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.segment_ports import (
    MemberPage,
    OutsideFacts,
    ScoreFact,
    SegmentJob,
    StageFact,
)
from services.profile.domain.segment_eval import EventFact
from services.profile.domain.segment_membership import (
    Membership,
    MembershipWrite,
    SegmentDefinition,
)


@dataclass
class _Fact:
    value: str | float | None
    at: datetime
    event_id: str


@dataclass
class InMemorySegmentStore:
    profiles: InMemoryProfileStore
    segment_docs: dict[str, SegmentDefinition] = field(default_factory=dict)
    member_docs: dict[str, Membership] = field(default_factory=dict)
    claims: dict[str, datetime] = field(default_factory=dict)
    job_docs: dict[str, SegmentJob] = field(default_factory=dict)
    journey_facts: dict[tuple[str, str], _Fact] = field(default_factory=dict)
    score_facts: dict[tuple[str, str], _Fact] = field(default_factory=dict)
    gone: dict[str, str | None] = field(default_factory=dict)

    async def definitions(self, *, deleted: bool = False) -> list[SegmentDefinition]:
        return [d for _, d in sorted(self.segment_docs.items()) if deleted or not d.deleted]

    async def definition(self, segment_id: str) -> SegmentDefinition | None:
        return self.segment_docs.get(segment_id)

    async def put_definition(self, definition: SegmentDefinition) -> bool:
        stored = self.segment_docs.get(definition.id)
        expected = None if definition.version == 1 else definition.version - 1
        if (stored.version if stored is not None else None) != expected:
            return False
        self.segment_docs[definition.id] = definition
        return True

    async def add_job(self, job: SegmentJob) -> None:
        self.job_docs.setdefault(job.id, job)

    async def latest_job(self, segment_id: str) -> SegmentJob | None:
        jobs = [j for j in self.job_docs.values() if j.segment_id == segment_id]
        return max(jobs, key=lambda j: (j.created_at, j.version), default=None)

    async def claim_job(self, now: datetime, lease: timedelta) -> SegmentJob | None:
        open_jobs = [
            j
            for j in self.job_docs.values()
            if j.status != "done" and (j.claimed_until is None or j.claimed_until <= now)
        ]
        if not open_jobs:
            return None
        job = min(open_jobs, key=lambda j: (j.created_at, j.id))
        job = replace(
            job,
            status="running",
            claimed_until=now + lease,
            started_at=job.started_at or now,
        )
        self.job_docs[job.id] = job
        return job

    async def advance_job(
        self, job: SegmentJob, now: datetime, lease: timedelta
    ) -> SegmentJob | None:
        stored = self.job_docs.get(job.id)
        if stored is None or stored.claimed_until != job.claimed_until:
            return None
        done = job.status == "done"
        job = replace(job, claimed_until=None if done else now + lease)
        self.job_docs[job.id] = job
        return job

    async def memberships(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Membership]]:
        found: dict[str, dict[str, Membership]] = {cid: {} for cid in customer_ids}
        for record in self.member_docs.values():
            if record.customer_id in found:
                found[record.customer_id][record.segment_id] = record
        return found

    async def write(self, writes: Sequence[MembershipWrite]) -> list[MembershipWrite]:
        lost = []
        for write in writes:
            stored = self.member_docs.get(write.record.key)
            if (stored.seq if stored is not None else 0) != write.expected_seq:
                lost.append(write)
                continue
            self.member_docs[write.record.key] = write.record
            self.claims.pop(write.record.key, None)
        return lost

    async def unpublished(self, customer_ids: Sequence[str]) -> list[Membership]:
        wanted = set(customer_ids)
        found = [
            r for r in self.member_docs.values() if r.customer_id in wanted and not r.published
        ]
        return sorted(found, key=lambda r: (r.changed_at or datetime.min, r.key))

    async def mark_published(self, records: Sequence[Membership]) -> None:
        for record in records:
            stored = self.member_docs.get(record.key)
            if stored is not None and stored.seq == record.seq:
                self.member_docs[record.key] = replace(stored, published=True)

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[str]:
        due = [
            r
            for r in self.member_docs.values()
            if r.recheck_at is not None
            and r.recheck_at <= now
            and (r.key not in self.claims or self.claims[r.key] <= now)
        ][:limit]
        for record in due:
            self.claims[record.key] = now + lease
        return list(dict.fromkeys(r.customer_id for r in due))

    async def members(self, segment_id: str, first: int, after: str | None) -> MemberPage:
        found = sorted(
            (
                r
                for r in self.member_docs.values()
                if r.segment_id == segment_id
                and r.member
                and (after is None or r.customer_id > after)
            ),
            key=lambda r: r.customer_id,
        )
        return MemberPage(found[:first], has_next=len(found) > first)

    async def size(self, segment_id: str) -> int:
        return sum(1 for r in self.member_docs.values() if r.segment_id == segment_id and r.member)

    async def record_facts(self, facts: Sequence[StageFact | ScoreFact]) -> None:
        for fact in facts:
            if isinstance(fact, StageFact):
                table, key = self.journey_facts, (fact.customer_id, fact.journey_id)
                new = _Fact(fact.stage, fact.entered_at, fact.event_id)
            else:
                table, key = self.score_facts, (fact.customer_id, fact.score)
                new = _Fact(fact.value, fact.at, fact.event_id)
            old = table.get(key)
            if old is None or (new.at, new.event_id) > (old.at, old.event_id):
                table[key] = new

    async def outside_facts(self, customer_ids: Sequence[str]) -> dict[str, OutsideFacts]:
        found: dict[str, OutsideFacts] = {}
        for cid in customer_ids:
            journeys = {j: str(f.value) for (c, j), f in self.journey_facts.items() if c == cid}
            scores = {
                s: None if f.value is None else float(f.value)
                for (c, s), f in self.score_facts.items()
                if c == cid
            }
            if journeys or scores:
                found[cid] = OutsideFacts(journeys=journeys, scores=scores)
        return found

    async def recent_events(
        self, customer_ids: Sequence[str], since: datetime | None
    ) -> dict[str, list[EventFact]]:
        found: dict[str, list[EventFact]] = {cid: [] for cid in customer_ids}
        for event in self.profiles.event_docs.values():
            if event.customer_id in found and (since is None or event.timestamp > since):
                properties = event.data.get("properties")
                found[event.customer_id].append(
                    EventFact(
                        name=str(event.data.get("event")) if event.kind == "track" else None,
                        timestamp=event.timestamp,
                        channel=event.channel,
                        properties=properties if isinstance(properties, dict) else {},
                    )
                )
        return found

    async def customer_ids(self, after: str | None, limit: int) -> list[str]:
        ids = sorted(cid for cid in self.profiles.customer_docs if after is None or cid > after)
        return ids[:limit]

    async def customer_count(self) -> int:
        return len(self.profiles.customer_docs)

    async def retire(self, survivors: Mapping[str, str | None]) -> None:
        for cid, to in survivors.items():
            if to is None:
                self.gone[cid] = None
            else:
                self.gone.setdefault(cid, to)

    async def retired(self, customer_ids: Sequence[str]) -> dict[str, str | None]:
        return {cid: self.gone[cid] for cid in customer_ids if cid in self.gone}

    async def move_facts(self, from_ids: Sequence[str], to_id: str) -> None:
        moved: list[StageFact | ScoreFact] = []
        for (cid, journey), f in list(self.journey_facts.items()):
            if cid in from_ids:
                moved.append(StageFact(to_id, journey, str(f.value), f.at, f.event_id))
                del self.journey_facts[(cid, journey)]
        for (cid, score), f in list(self.score_facts.items()):
            if cid in from_ids:
                value = None if f.value is None else float(f.value)
                moved.append(ScoreFact(to_id, score, value, f.at, f.event_id))
                del self.score_facts[(cid, score)]
        await self.record_facts(moved)

    async def forget(self, customer_ids: Sequence[str]) -> None:
        wanted = set(customer_ids)
        for key in [k for k, r in self.member_docs.items() if r.customer_id in wanted]:
            del self.member_docs[key]
        for table in (self.journey_facts, self.score_facts):
            for fact_key in [k for k in table if k[0] in wanted]:
                del table[fact_key]
