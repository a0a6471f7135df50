"""The segment store port: definitions, memberships, re-evaluation jobs, outside facts.

:class:`MongoSegmentStore` (``adapters/mongo_segments.py``) implements it on the
profile database, :class:`InMemorySegmentStore` (``adapters/in_memory_segments.py``)
in dicts. Every write is idempotent or conditional: definitions by version,
memberships by transition count (``seq``), claims of due re-checks and of jobs by
lease, facts by event time. So any number of worker processes may evaluate, schedule
and run jobs side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from services.profile.domain.segment_eval import EventFact
from services.profile.domain.segment_membership import (
    Membership,
    MembershipWrite,
    SegmentDefinition,
)

JobStatus = Literal["pending", "running", "done"]


@dataclass(frozen=True, slots=True)
class SegmentJob:
    """Re-evaluation of every customer after a segment was created, changed or deleted.

    Runs in pages of customers by id (``cursor``: the last id done) under a lease
    (``claimed_until``), so a worker that dies mid-job leaves it to another.
    """

    id: str
    segment_id: str
    version: int
    created_at: datetime
    total: int
    status: JobStatus = "pending"
    processed: int = 0
    cursor: str | None = None
    claimed_until: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StageFact:
    """A journey stage a customer reached (``journey.stage_changed``)."""

    customer_id: str
    journey_id: str
    stage: str
    entered_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class ScoreFact:
    """A score's latest value (``score.changed``)."""

    customer_id: str
    score: str
    value: float | None
    at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class OutsideFacts:
    """What other services told the profile about a customer."""

    journeys: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemberPage:
    members: list[Membership]
    has_next: bool


class SegmentStore(Protocol):
    async def definitions(self, *, deleted: bool = False) -> list[SegmentDefinition]:
        """Current versions of all segments (deleted ones too when ``deleted``), by id."""

    async def definition(self, segment_id: str) -> SegmentDefinition | None: ...

    async def put_definition(self, definition: SegmentDefinition) -> bool:
        """Store a new segment (version 1) or a new version; False when the stored version
        is no longer ``definition.version - 1`` (another change won)."""

    async def add_job(self, job: SegmentJob) -> None:
        """Store a job; one of the same id stored before stays as it is."""

    async def latest_job(self, segment_id: str) -> SegmentJob | None: ...

    async def claim_job(self, now: datetime, lease: timedelta) -> SegmentJob | None:
        """Lease the oldest unfinished job nobody holds (or whose lease ran out)."""

    async def advance_job(
        self, job: SegmentJob, now: datetime, lease: timedelta
    ) -> SegmentJob | None:
        """Store ``job``'s progress and renew its lease, if the caller still holds the lease
        it claimed (``job.claimed_until``); the job as stored, or None when another worker
        took it over."""

    async def memberships(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Membership]]:
        """Membership records by customer id, then segment id."""

    async def write(self, writes: Sequence[MembershipWrite]) -> list[MembershipWrite]:
        """Apply each write if its record still has ``expected_seq``; returns those that did
        not apply (decided against a record changed since). Clears re-check claims."""

    async def unpublished(self, customer_ids: Sequence[str]) -> list[Membership]:
        """Transitions of these customers not yet confirmed published."""

    async def mark_published(self, records: Sequence[Membership]) -> None:
        """Mark transitions published (only while the record's ``seq`` is still theirs)."""

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[str]:
        """Lease up to ``limit`` customers with a re-check due by ``now``; their ids."""

    async def members(self, segment_id: str, first: int, after: str | None) -> MemberPage:
        """Current members by customer id, after the customer id ``after``."""

    async def size(self, segment_id: str) -> int: ...

    async def record_facts(self, facts: Sequence[StageFact | ScoreFact]) -> None:
        """Keep each journey's and score's latest fact; older or repeated ones change nothing."""

    async def outside_facts(self, customer_ids: Sequence[str]) -> dict[str, OutsideFacts]: ...

    async def recent_events(
        self, customer_ids: Sequence[str], since: datetime | None
    ) -> dict[str, list[EventFact]]:
        """The customers' stored events with event time after ``since`` (all when None)."""

    async def customer_ids(self, after: str | None, limit: int) -> list[str]:
        """Customer ids in id order after ``after``: the pages of a job."""

    async def customer_count(self) -> int: ...

    async def retire(self, survivors: Mapping[str, str | None]) -> None:
        """Remember customer ids that are gone: merged into a survivor, or erased (None)."""

    async def retired(self, customer_ids: Sequence[str]) -> dict[str, str | None]:
        """Which of ``customer_ids`` are gone, with their survivor (None: erased)."""

    async def move_facts(self, from_ids: Sequence[str], to_id: str) -> None:
        """Re-key the journey and score facts of merged ids to their survivor (the latest
        fact of each journey and score wins)."""

    async def forget(self, customer_ids: Sequence[str]) -> None:
        """Delete the memberships and facts of erased customers."""
