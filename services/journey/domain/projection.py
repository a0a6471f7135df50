"""One customer's journey state, recomputed from all their interactions.

Everything a batch (or the scheduler) changes about a customer is recomputed from
their stored interactions in event-time order, never patched: progress in every
journey, its threads and handoffs, frictions, triggers due. Comparing with what
was stored before yields the events to publish, each with an id derived from what
caused it, so a recomputation that finds nothing new publishes nothing and one
that is repeated publishes the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.journey.domain.friction_detectors import deadlines, detect
from services.journey.domain.frictions import Friction, FrictionSettings
from services.journey.domain.handoffs import Thread, threads
from services.journey.domain.interactions import Interaction, chronological
from services.journey.domain.journeys import Journey
from services.journey.domain.stages import Progress, StageEntered, changes, progress_in_all
from services.journey.domain.triggers import (
    CustomerState,
    InactiveInStage,
    Trigger,
    Triggered,
    evaluate,
)

_JUST_AFTER = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Placed:
    """A friction with the journey stage the customer was in when it was detected."""

    friction: Friction
    journey_id: str | None
    stage: str | None


@dataclass(frozen=True, slots=True)
class Known:
    """What was stored for the customer before this recomputation."""

    progresses: Mapping[str, Progress] = field(default_factory=dict)
    friction_ids: frozenset[str] = frozenset()
    fired: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Projection:
    """A customer's recomputed journey state, and what is new since :class:`Known`."""

    customer_id: str
    progresses: tuple[Progress, ...]
    threads: tuple[Thread, ...]
    frictions: tuple[Placed, ...]
    entered: tuple[StageEntered, ...]
    new_frictions: tuple[Placed, ...]
    triggered: tuple[Triggered, ...]
    due_at: datetime | None
    last_activity: datetime | None


def place(friction: Friction, progresses: Iterable[Progress]) -> Placed:
    """Where the customer stood when ``friction`` was detected: its own stage when it has
    one (a stalled stage), else the most recently entered stage of any journey."""
    if friction.stage is not None:
        return Placed(friction, friction.journey_id, friction.stage)
    latest = None
    for found in progresses:
        visit = found.stage_at(friction.detected_at)
        if visit is not None and (latest is None or visit.entered_at > latest.entered_at):
            latest = visit
    if latest is None:
        return Placed(friction, None, None)
    return Placed(friction, latest.journey_id, latest.stage)


def _inactivity_due(
    triggers: Iterable[Trigger], progresses: Iterable[Progress], last: Interaction | None
) -> list[datetime]:
    current = {p.journey_id: p.current for p in progresses}
    found = []
    for trigger in triggers:
        when = trigger.when
        if not isinstance(when, InactiveInStage):
            continue
        visit = current.get(when.journey_id)
        if visit is None or visit.stage != when.stage:
            continue
        quiet_since = visit.entered_at
        if last is not None and last.timestamp > quiet_since:
            quiet_since = last.timestamp
        found.append(quiet_since + when.duration)
    return found


def _stalled_due(
    progresses: Iterable[Progress], p90: Mapping[tuple[str, str], timedelta]
) -> list[datetime]:
    found = []
    for progress in progresses:
        visit = progress.current
        threshold = None if visit is None else p90.get((visit.journey_id, visit.stage))
        if visit is not None and threshold is not None:
            found.append(visit.entered_at + threshold + _JUST_AFTER)
    return found


def stalls(
    progresses: Iterable[Progress],
    p90: Mapping[tuple[str, str], timedelta],
    before: Mapping[tuple[str, str], timedelta],
    now: datetime,
) -> dict[str, datetime]:
    """When customers still in a stage pass its p90: those yet to pass it, and those past a
    threshold that is new or changed (the others were detected already)."""
    due: dict[str, datetime] = {}
    for progress in progresses:
        visit = progress.current
        if visit is None:
            continue
        key = (visit.journey_id, visit.stage)
        threshold = p90.get(key)
        if threshold is None:
            continue
        at = visit.entered_at + threshold + _JUST_AFTER
        if at > now or before.get(key) != threshold:
            due[progress.customer_id] = min(at, due.get(progress.customer_id, at))
    return due


def project(
    customer_id: str,
    interactions: Iterable[Interaction],
    journeys: Iterable[Journey],
    triggers: Iterable[Trigger],
    now: datetime,
    known: Known,
    settings: FrictionSettings | None = None,
    stage_p90: Mapping[tuple[str, str], timedelta] | None = None,
) -> Projection:
    """The customer's state at ``now`` and what changed since ``known``."""
    settings = settings or FrictionSettings()
    items = chronological(interactions)
    every_journey = tuple(journeys)
    rules = tuple(triggers)
    progresses = progress_in_all(every_journey, customer_id, items)
    found = detect(items, now, settings, progresses=progresses, stage_p90=stage_p90)
    placed = tuple(place(friction, progresses) for friction in found)
    entered = tuple(
        change
        for p in progresses
        for change in changes(known.progresses.get(p.journey_id), p)
        if isinstance(change, StageEntered)
    )
    state = CustomerState.of(customer_id, progresses, found, items)
    fired = evaluate(rules, state, now, known.fired)
    waits = [
        *(moment + _JUST_AFTER for moment in deadlines(items, settings)),
        *_inactivity_due(rules, progresses, state.last_interaction),
        *_stalled_due(progresses, stage_p90 or {}),
    ]
    due = min((moment for moment in waits if moment > now), default=None)
    by_id = {j.id: j for j in every_journey}
    return Projection(
        customer_id=customer_id,
        progresses=progresses,
        threads=tuple(
            t for p in progresses for t in threads(by_id[p.journey_id], customer_id, items)
        ),
        frictions=placed,
        entered=entered,
        new_frictions=tuple(p for p in placed if p.friction.id not in known.friction_ids),
        triggered=fired,
        due_at=due,
        last_activity=items[-1].timestamp if items else None,
    )
