"""Where a customer stands in a journey: current stage, stage history, time in stage.

Progress is a pure function of the customer's interactions as a set: they are
deduplicated by id and walked in event-time order, so a late or out-of-order
event lands where it belongs and the stages after it are corrected, and a
redelivered event changes nothing. :func:`changes` turns two successive
computations into the events to publish (stages entered, and stages retracted
when a late event rewrote history).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.journey.domain import JourneyError
from services.journey.domain.interactions import Interaction, chronological
from services.journey.domain.journeys import Journey


@dataclass(frozen=True, slots=True)
class Step:
    """One journey-relevant interaction and where it left the customer."""

    item: Interaction
    cycle: int
    stage: int
    entered: bool


@dataclass(frozen=True, slots=True)
class Visit:
    """A stay in one stage: entered at ``entered_at`` by ``entered_by``, left at ``left_at``."""

    journey_id: str
    cycle: int
    stage: str
    entered_at: datetime
    entered_by: str
    channel: str
    left_at: datetime | None

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.journey_id, self.cycle, self.stage, self.entered_by)

    def duration(self, now: datetime) -> timedelta:
        """Time spent in the stage; an open visit counts up to ``now``."""
        end = self.left_at if self.left_at is not None else now
        return max(end - self.entered_at, timedelta(0))


@dataclass(frozen=True, slots=True)
class Progress:
    """One customer's history in one version of one journey, oldest visit first."""

    customer_id: str
    journey_id: str
    version: int
    visits: tuple[Visit, ...]

    @property
    def current(self) -> Visit | None:
        return self.visits[-1] if self.visits else None

    def stage_at(self, when: datetime) -> Visit | None:
        """The visit the customer was in at ``when`` (None before the journey began)."""
        found = None
        for visit in self.visits:
            if visit.entered_at <= when:
                found = visit
        return found

    def time_in_stage(self, now: datetime) -> dict[str, timedelta]:
        """Total time per stage over every cycle, the open visit counted up to ``now``."""
        totals: dict[str, timedelta] = {}
        for visit in self.visits:
            totals[visit.stage] = totals.get(visit.stage, timedelta(0)) + visit.duration(now)
        return totals


@dataclass(frozen=True, slots=True)
class StageEntered:
    """Published as ``journey.stage_changed``: a customer entered a stage."""

    customer_id: str
    journey_id: str
    version: int
    visit: Visit
    previous_stage: str | None


@dataclass(frozen=True, slots=True)
class StageRetracted:
    """Published as ``journey.stage_changed`` with ``retracted``: a late event rewrote history."""

    customer_id: str
    journey_id: str
    version: int
    visit: Visit


def walk(journey: Journey, interactions: Iterable[Interaction]) -> tuple[Step, ...]:
    """The journey-relevant interactions in event-time order, with the stage after each."""
    restart = None if journey.restarts_after is None else journey.index(journey.restarts_after)
    steps: list[Step] = []
    cycle, stage = 0, -1
    for item in chronological(interactions):
        hits = journey.matching(item)
        if not hits:
            continue
        entered = True
        if hits[-1] > stage:
            cycle, stage = max(cycle, 1), hits[-1]
        elif restart is not None and hits[0] == 0 and stage >= restart:
            cycle, stage = cycle + 1, 0
        else:
            entered = False
        steps.append(Step(item, cycle, stage, entered))
    return tuple(steps)


def progress(journey: Journey, customer_id: str, interactions: Iterable[Interaction]) -> Progress:
    """The customer's progress through ``journey`` given all their interactions."""
    items = tuple(interactions)
    strangers = sorted({item.customer_id for item in items} - {customer_id})
    if strangers:
        raise JourneyError(
            f"progress of customer {customer_id!r} was given interactions of {strangers}; "
            "re-key merged customers' interactions first (rekeying.merge)"
        )
    entries = [step for step in walk(journey, items) if step.entered]
    visits = []
    for i, step in enumerate(entries):
        left = entries[i + 1].item.timestamp if i + 1 < len(entries) else None
        visits.append(
            Visit(
                journey_id=journey.id,
                cycle=step.cycle,
                stage=journey.stages[step.stage].key,
                entered_at=step.item.timestamp,
                entered_by=step.item.id,
                channel=step.item.channel,
                left_at=left,
            )
        )
    return Progress(customer_id, journey.id, journey.version, tuple(visits))


def progress_in_all(
    journeys: Iterable[Journey], customer_id: str, interactions: Iterable[Interaction]
) -> tuple[Progress, ...]:
    """Progress in several journeys at once, journeys the customer never entered left out."""
    items = tuple(interactions)
    every = (progress(journey, customer_id, items) for journey in journeys)
    return tuple(found for found in every if found.visits)


def changes(before: Progress | None, after: Progress) -> tuple[StageEntered | StageRetracted, ...]:
    """The events that turn ``before`` into ``after``: retractions first, then entries."""
    old = {visit.key: visit for visit in before.visits} if before is not None else {}
    new = {visit.key for visit in after.visits}
    retracted: list[StageEntered | StageRetracted] = [
        StageRetracted(after.customer_id, after.journey_id, after.version, visit)
        for key, visit in old.items()
        if key not in new
    ]
    entered: list[StageEntered | StageRetracted] = []
    for i, visit in enumerate(after.visits):
        if visit.key not in old:
            previous = after.visits[i - 1].stage if i else None
            entered.append(
                StageEntered(after.customer_id, after.journey_id, after.version, visit, previous)
            )
    return (*retracted, *entered)
