"""The journey service's ports.

- :class:`JourneyStore`: touchpoints and the per-customer reads the graph serves
  (:class:`InMemoryJourneyStore` in ``adapters/in_memory.py`` is its twin);
- :class:`StateStore`: the recomputed journey state (progress, frictions, triggers
  fired) and when each customer is next due for the scheduler;
- :class:`IdentityStore`: aliases of merged customers, erased ids, re-keying;
- :class:`CatalogStore`: journey definitions (versioned) and trigger rules;
- :class:`AnalyticsStore`: the reads behind funnels, paths and the other dashboards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.journey.domain.handoffs import Handoff
from services.journey.domain.journeys import Journey
from services.journey.domain.projection import Known, Projection
from services.journey.domain.stages import Progress, Visit
from services.journey.domain.timeline import Position
from services.journey.domain.touchpoints import Touchpoint
from services.journey.domain.triggers import Trigger
from shared.normalize.canonical import CanonicalError, snake_case


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """One cycle of a journey: the channels it used, in order, and its breaks."""

    cycle: int
    channels: tuple[str, ...]
    breaks: int

    @property
    def continuous_cross_channel(self) -> bool:
        return len(self.channels) >= 2 and self.breaks == 0


@dataclass(frozen=True, slots=True)
class JourneyProgress:
    """Where a customer stands in one journey: current stage, history, handoffs."""

    journey_id: str
    name: str
    stage: str
    entered_at: datetime
    updated_at: datetime
    version: int = 1
    history: tuple[Visit, ...] = ()
    handoffs: tuple[Handoff, ...] = ()
    threads: tuple[ThreadSummary, ...] = ()


@dataclass(frozen=True, slots=True)
class Friction:
    id: str
    kind: str
    description: str
    detected_at: datetime
    touchpoint_ids: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    stage: str | None = None
    channel: str | None = None
    journey_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    """Which of a customer's touchpoints a timeline shows (every field optional)."""

    channel: str | None = None
    event: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def only_channel(self) -> bool:
        return self.event is None and self.start is None and self.end is None

    @property
    def names(self) -> tuple[str, ...]:
        """The stored names ``event`` stands for: as given, and snake_case when it has one."""
        if self.event is None:
            return ()
        try:
            return tuple(dict.fromkeys((self.event, snake_case(self.event))))
        except CanonicalError:
            return (self.event,)

    def admits(self, touchpoint: Touchpoint) -> bool:
        return (
            (self.channel is None or touchpoint.channel == self.channel)
            and (
                self.event is None
                or touchpoint.name in self.names
                or touchpoint.event_name == self.event
            )
            and (self.start is None or touchpoint.timestamp >= self.start)
            and (self.end is None or touchpoint.timestamp < self.end)
        )


NO_FILTER = TimelineFilter()


@dataclass(frozen=True, slots=True)
class TimelinePage:
    touchpoints: tuple[Touchpoint, ...]
    has_next: bool


@dataclass(frozen=True, slots=True)
class Timeline:
    """A page of one customer's timeline and how many touchpoints match in all."""

    page: TimelinePage
    total: int


EMPTY_TIMELINE = Timeline(TimelinePage((), has_next=False), total=0)


class JourneyStore(Protocol):
    async def save_touchpoints(self, touchpoints: Sequence[Touchpoint]) -> None:
        """Upsert by id: saving the same touchpoint twice leaves one."""

    async def timeline(
        self, customer_id: str, *, first: int, after: Position | None, channel: str | None
    ) -> TimelinePage:
        """Up to ``first`` touchpoints strictly after ``after``, newest first."""

    async def count(self, customer_id: str, channel: str | None) -> int: ...

    async def timelines(
        self,
        customer_ids: Sequence[str],
        *,
        first: int,
        after: Position | None,
        channel: str | None,
    ) -> dict[str, Timeline]:
        """For each of ``customer_ids``, in one read: the page :meth:`timeline` would
        give and the :meth:`count` of its timeline (``channel`` applies to both).

        Every id requested is a key (a customer without touchpoints has an empty one).
        """

    async def newer(
        self, customer_id: str, *, last: int, before: Position | None, where: TimelineFilter
    ) -> TimelinePage:
        """Up to ``last`` touchpoints strictly newer than ``before`` (the closest ones; the
        oldest ones when ``before`` is None), newest first; ``has_next`` tells whether even
        newer ones exist."""

    async def filtered(
        self, customer_id: str, *, first: int, after: Position | None, where: TimelineFilter
    ) -> Timeline:
        """:meth:`timeline` and :meth:`count` under any :class:`TimelineFilter`."""

    async def touchpoints_of(self, customer_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
        """Every touchpoint of each customer (event-time order); every id is a key."""

    async def journeys(self, customer_id: str) -> list[JourneyProgress]: ...

    async def journeys_of(self, customer_ids: Sequence[str]) -> dict[str, list[JourneyProgress]]:
        """The journey progress of each of ``customer_ids`` in one read; every id is a key."""

    async def frictions(self, customer_id: str) -> list[Friction]: ...

    async def frictions_of(self, customer_ids: Sequence[str]) -> dict[str, list[Friction]]:
        """The frictions of each of ``customer_ids``, newest first, in one read; every id
        is a key."""


class StateStore(Protocol):
    """The journey state recomputed per customer, and the scheduler's due dates.

    Every write is idempotent: progress, frictions and the scheduling document are
    keyed by customer (and journey, friction id) and replaced; fired triggers are
    inserted once by occurrence id.
    """

    async def known(self, customer_ids: Sequence[str]) -> dict[str, Known]:
        """What was stored for each customer (an empty :class:`Known` when nothing)."""

    async def save(self, projections: Sequence[Projection], names: Mapping[str, str]) -> None:
        """Replace each customer's progress and frictions with the projection's, record the
        triggers it fired, set when it is next due and release any scheduler claim."""

    async def claim_due(self, now: datetime, lease: float, limit: int) -> list[str]:
        """Customers due at ``now``, each claimed for ``lease`` seconds with a conditional
        update, so two schedulers never take the same customer at once."""

    async def progresses(self) -> list[Progress]:
        """Every customer's stored progress (for the time-in-stage figures)."""

    async def stage_p90(self) -> dict[tuple[str, str], timedelta]:
        """The last p90 of time in each (journey, stage) saved; empty before the first."""

    async def save_stage_p90(self, p90: Mapping[tuple[str, str], timedelta]) -> None: ...

    async def schedule(self, due: Mapping[str, datetime]) -> None:
        """Make each customer due at the given moment at the latest (an earlier due date
        stays)."""


class IdentityStore(Protocol):
    """Identity changes the profile announces: merged ids, splits, erasures."""

    async def aliases(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """The survivor of each of ``customer_ids`` that was merged away (others absent)."""

    async def record_merge(self, survivor: str, merged: Sequence[str]) -> None: ...

    async def rekey(self, survivor: str, merged: Sequence[str]) -> None:
        """Move every touchpoint of ``merged`` to ``survivor``; drop their derived state."""

    async def move(self, ingest_ids: Sequence[str], source: str, target: str) -> None:
        """Move ``source``'s touchpoints of those ingest events to ``target``."""

    async def erased(self, customer_ids: Sequence[str]) -> set[str]: ...

    async def erase(self, customer_ids: Sequence[str]) -> None:
        """Delete every trace of ``customer_ids`` and remember them as erased."""


class SegmentStore(Protocol):
    """Segment membership as the profile announces it (``segment.entered`` / ``.exited``)."""

    async def record(
        self, segment_id: str, customer_id: str, member: bool, version: int, at: datetime
    ) -> None:
        """Keep the membership of the highest ``version`` seen (late events change nothing)."""

    async def members(self, segment_id: str) -> set[str]: ...

    async def rekey(self, survivor: str, merged: Sequence[str]) -> None: ...


class CatalogStore(Protocol):
    async def journeys(self) -> list[Journey]:
        """Every stored version of every journey (the shipped ones are not stored)."""

    async def add_journey(self, journey: Journey) -> None:
        """Store a new version; raises ``DefinitionError`` if that version exists."""

    async def triggers(self) -> list[Trigger]: ...

    async def add_trigger(self, document: Mapping[str, Any]) -> None: ...


class AnalyticsStore(Protocol):
    async def touchpoints_between(
        self,
        start: datetime,
        end: datetime,
        *,
        events: Sequence[str] | None = None,
        properties: bool = False,
    ) -> list[Touchpoint]:
        """Touchpoints in ``[start, end)`` (only of ``events`` when given), without their
        properties unless asked."""

    async def frictions_between(self, start: datetime, end: datetime) -> list[Friction]: ...

    async def all_progress(self) -> list[JourneyProgress]: ...


def position(touchpoint: Touchpoint) -> Position:
    return Position(touchpoint.timestamp, touchpoint.id)
