"""Frictions: pain points found in a customer's interactions, with their evidence.

A :class:`Friction` names the interactions that show it, and its id derives
from its kind, its customer and its anchoring evidence, so detecting the same
friction again (a redelivery, a recomputation after a late event) yields the
same id and is published once. The detectors live in
:mod:`services.journey.domain.friction_detectors`; their thresholds here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.journey.domain.journeys import Condition, Match
from services.journey.domain.stages import Progress
from shared.events import derived_id

CONTACT_EVENTS = ("support_ticket_opened", "support_contacted")
_CONTACT = Match(events=CONTACT_EVENTS)
_CHECKOUT = Match(events=("checkout_started",))
_ORDER = Match(events=("order_completed",))
_PING_PONG_SCOPE = Match(
    events=(*CONTACT_EVENTS, "support_ticket_updated", "support_ticket_escalated")
)
_SURVEY = Match(events=("survey_answered",))
_PROMISE = Match(events=("order_completed", "order_shipped"))
_FULFILMENT = Match(events=("order_delivered",))


@dataclass(frozen=True, slots=True)
class Friction:
    """Published as ``journey.friction_detected``."""

    kind: str
    customer_id: str
    detected_at: datetime
    channel: str
    evidence: tuple[str, ...]
    journey_id: str | None = None
    stage: str | None = None
    anchor: str | None = None

    @property
    def id(self) -> str:
        """Stable across redetection: kind, customer, the anchoring evidence (the first
        unless ``anchor`` names another) and, for stage frictions, the journey and stage."""
        anchor = self.anchor if self.anchor is not None else self.evidence[0]
        where = (self.journey_id or "", self.stage or "")
        return derived_id("friction", self.kind, self.customer_id, anchor, *where)


@dataclass(frozen=True, slots=True)
class FrictionSettings:
    """Thresholds of every detector; the defaults are the issue's."""

    contact: Match = _CONTACT
    repeat_contacts: int = 2
    repeat_window: timedelta = timedelta(days=7)

    checkout: Match = _CHECKOUT
    order: Match = _ORDER
    checkout_timeout: timedelta = timedelta(hours=24)

    payment_failure: tuple[Match, ...] = (
        Match(events=("payment_failed", "payment_declined")),
        Match(
            events=("payment_info_entered", "order_completed"),
            where=(Condition("status", "in", ("failed", "declined", "error")),),
        ),
    )

    ping_pong_scope: Match = _PING_PONG_SCOPE
    ping_pong_returns: int = 2
    ping_pong_window: timedelta = timedelta(hours=48)

    survey: Match = _SURVEY
    # Highest score that is negative, per survey: NPS detractors, CSAT 1-2, CES 1-3 on 1-7.
    negative_at_most: Mapping[str, float] = field(
        default_factory=lambda: {"nps": 6, "csat": 2, "ces": 3}
    )
    survey_window: timedelta = timedelta(hours=24)

    promise: Match = _PROMISE
    promise_property: str = "promised_delivery_date"
    fulfilment: Match = _FULFILMENT
    promise_key: str = "order_id"
    promise_grace: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class PainPoint:
    """How many frictions of one kind customers met in one stage, on one channel."""

    stage: str
    channel: str
    kind: str
    count: int


OUTSIDE = "none"


def pain_point_map(
    frictions: Iterable[Friction], progress_by_customer: Mapping[str, Progress]
) -> tuple[PainPoint, ...]:
    """Frictions by the stage the customer was in when each was detected, and by channel.

    ``progress_by_customer`` holds one journey's progress per customer; a
    friction of a customer not yet in that journey counts under stage ``"none"``.
    Most frequent first.
    """
    counts: Counter[tuple[str, str, str]] = Counter()
    for friction in frictions:
        found = progress_by_customer.get(friction.customer_id)
        visit = found.stage_at(friction.detected_at) if found is not None else None
        stage = visit.stage if visit is not None else OUTSIDE
        counts[(stage, friction.channel, friction.kind)] += 1
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(PainPoint(*key, count) for key, count in ranked)


def tally(placed: Iterable[tuple[str | None, str | None, str]]) -> tuple[PainPoint, ...]:
    """Pain points from stored frictions as (stage, channel, kind); most frequent first.

    Frictions are stored with the stage the customer was in when each was detected
    (``projection.place``), so the map needs no progress at query time."""
    counts: Counter[tuple[str, str, str]] = Counter(
        (stage or OUTSIDE, channel or OUTSIDE, kind) for stage, channel, kind in placed
    )
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(PainPoint(*key, count) for key, count in ranked)
