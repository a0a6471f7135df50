"""Triggers: rules that fire when a customer enters a stage, meets a friction, or goes quiet.

Evaluation is pure: given a customer's state, ``now`` and the occurrences that
already fired, :func:`evaluate` returns what fires now. Each firing carries an
occurrence id derived from what caused it, so a rule fires at most once per
occurrence however often it is evaluated; the caller stores the ids it published.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.journey.domain import JourneyError
from services.journey.domain.frictions import Friction
from services.journey.domain.interactions import Interaction, chronological
from services.journey.domain.stages import Progress
from shared.events import derived_id


@dataclass(frozen=True, slots=True)
class EntersStage:
    journey_id: str
    stage: str


@dataclass(frozen=True, slots=True)
class FrictionDetected:
    kind: str


@dataclass(frozen=True, slots=True)
class InactiveInStage:
    """The customer is still in ``stage`` and has done nothing for ``duration``."""

    journey_id: str
    stage: str
    duration: timedelta

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise JourneyError(
                f"inactivity in stage {self.stage!r} needs a positive duration, "
                f"got {self.duration}; e.g. timedelta(days=3)"
            )


Condition = EntersStage | FrictionDetected | InactiveInStage


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule; occurrences before ``not_before`` (e.g. its creation) never fire."""

    id: str
    when: Condition
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerState:
    """What triggers look at for one customer."""

    customer_id: str
    progresses: tuple[Progress, ...]
    frictions: tuple[Friction, ...]
    last_interaction: Interaction | None

    @classmethod
    def of(
        cls,
        customer_id: str,
        progresses: Iterable[Progress],
        frictions: Iterable[Friction],
        interactions: Iterable[Interaction],
    ) -> CustomerState:
        items = chronological(interactions)
        return cls(customer_id, tuple(progresses), tuple(frictions), items[-1] if items else None)


@dataclass(frozen=True, slots=True)
class Triggered:
    """Published as ``journey.triggered``; ``occurrence`` is its idempotency key."""

    trigger_id: str
    customer_id: str
    occurrence: str
    at: datetime
    evidence: tuple[str, ...]


def _candidates(trigger: Trigger, state: CustomerState, now: datetime) -> Iterable[Triggered]:
    when = trigger.when
    if isinstance(when, FrictionDetected):
        yield from _friction_candidates(trigger, when, state, now)
        return
    for found in state.progresses:
        if found.journey_id != when.journey_id:
            continue
        if isinstance(when, EntersStage):
            yield from _entered_candidates(trigger, when, state.customer_id, found, now)
        else:
            yield from _inactive_candidates(trigger, when, state, found, now)


def _friction_candidates(
    trigger: Trigger, when: FrictionDetected, state: CustomerState, now: datetime
) -> Iterable[Triggered]:
    for friction in state.frictions:
        if friction.kind == when.kind and friction.detected_at <= now:
            yield Triggered(
                trigger.id,
                state.customer_id,
                derived_id("trigger", trigger.id, friction.id),
                friction.detected_at,
                friction.evidence,
            )


def _entered_candidates(
    trigger: Trigger, when: EntersStage, customer: str, found: Progress, now: datetime
) -> Iterable[Triggered]:
    for entered in found.visits:
        if entered.stage == when.stage and entered.entered_at <= now:
            key = (trigger.id, customer, *map(str, entered.key))
            yield Triggered(
                trigger.id,
                customer,
                derived_id("trigger", *key),
                entered.entered_at,
                (entered.entered_by,),
            )


def _inactive_candidates(
    trigger: Trigger, when: InactiveInStage, state: CustomerState, found: Progress, now: datetime
) -> Iterable[Triggered]:
    """The quiet spell in the current stage, timed from its entry or the last interaction since."""
    visit = found.current
    if visit is None or visit.stage != when.stage:
        return
    last = state.last_interaction
    quiet_since, last_id = visit.entered_at, visit.entered_by
    if last is not None and last.timestamp > quiet_since:
        quiet_since, last_id = last.timestamp, last.id
    if now - quiet_since >= when.duration:
        key = (trigger.id, state.customer_id, *map(str, visit.key), last_id)
        yield Triggered(
            trigger.id,
            state.customer_id,
            derived_id("trigger", *key),
            quiet_since + when.duration,
            (last_id,),
        )


def evaluate(
    triggers: Iterable[Trigger],
    state: CustomerState,
    now: datetime,
    fired: Collection[str] = frozenset(),
) -> tuple[Triggered, ...]:
    """What fires for this customer at ``now``, leaving out occurrences already ``fired``."""
    due: dict[str, Triggered] = {}
    for trigger in triggers:
        for candidate in _candidates(trigger, state, now):
            if trigger.not_before is not None and candidate.at < trigger.not_before:
                continue
            if candidate.occurrence not in fired:
                due.setdefault(candidate.occurrence, candidate)
    return tuple(sorted(due.values(), key=lambda t: (t.at, t.trigger_id, t.occurrence)))
