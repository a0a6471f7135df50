"""The minimal score projection: counts per channel, orders and revenue, latest survey answers.

Applying events is exactly-once in effect: the metrics remember the ids of the
events they include (the most recent ``APPLIED_MEMORY`` of them), and an event
already included changes nothing. Redeliveries come from the unacknowledged
window of a consumer (at most its prefetch, 256 by default), so remembering a
thousand ids per customer covers every redelivery the bus can make.

Survey answers keep the latest by event time, so a late answer never replaces
a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.scoring.domain import ScoringError
from services.scoring.domain.resolved import Resolved

APPLIED_MEMORY = 1000
SURVEYS = ("nps", "csat", "ces")
ORDER_EVENTS = frozenset({"order_completed"})


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    survey: str
    score: Decimal
    answered_at: datetime
    event_id: str

    def order_key(self) -> tuple[datetime, str]:
        return (self.answered_at, self.event_id)


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    """What scoring reads from a resolved customer event."""

    id: str
    customer_id: str
    channel: str
    timestamp: datetime
    order: tuple[Decimal, str] | None
    survey: SurveyAnswer | None

    @classmethod
    def from_data(cls, event_id: str, data: Mapping[str, Any]) -> ScoredEvent:
        event = Resolved.of(event_id, data)
        name = event.name
        return cls(
            id=event_id,
            customer_id=event.customer_id,
            channel=event.channel,
            timestamp=event.at,
            order=_order(data) if name in ORDER_EVENTS else None,
            survey=_survey(event_id, event.at, event.properties)
            if name == "survey_answered"
            else None,
        )


def _order(data: Mapping[str, Any]) -> tuple[Decimal, str]:
    money = data.get("money")
    if isinstance(money, Mapping) and money.get("revenue") is not None:
        try:
            return Decimal(str(money["revenue"])), str(money.get("currency") or "USD")
        except InvalidOperation:
            pass
    # An order without a (valid) amount still counts as an order, for no revenue.
    return Decimal(0), ""


def _survey(event_id: str, at: datetime, properties: Mapping[str, Any]) -> SurveyAnswer | None:
    survey = str(properties.get("survey") or "").strip().lower()
    score = properties.get("score")
    if survey not in SURVEYS or isinstance(score, bool) or not isinstance(score, int | float | str):
        return None
    try:
        value = Decimal(str(score))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return SurveyAnswer(survey=survey, score=value, answered_at=at, event_id=event_id)


@dataclass(frozen=True, slots=True)
class CustomerMetrics:
    """A customer's metrics and the ids of the events they already include."""

    customer_id: str
    events_by_channel: Mapping[str, int] = field(default_factory=dict)
    orders: int = 0
    revenue: Mapping[str, Decimal] = field(default_factory=dict)
    surveys: Mapping[str, SurveyAnswer] = field(default_factory=dict)
    applied: tuple[str, ...] = ()
    version: int = 0

    @property
    def events(self) -> int:
        return sum(self.events_by_channel.values())


def apply_events(metrics: CustomerMetrics, events: Iterable[ScoredEvent]) -> CustomerMetrics:
    """Include the events not yet included; returns the same object when nothing is new."""
    seen = set(metrics.applied)
    channels = dict(metrics.events_by_channel)
    revenue = dict(metrics.revenue)
    surveys = dict(metrics.surveys)
    orders = metrics.orders
    applied = list(metrics.applied)
    for event in events:
        if event.id in seen:
            continue
        if event.customer_id != metrics.customer_id:
            raise ScoringError(
                f"event {event.id} is about customer {event.customer_id}, not {metrics.customer_id}"
            )
        seen.add(event.id)
        applied.append(event.id)
        channels[event.channel] = channels.get(event.channel, 0) + 1
        if event.order is not None:
            orders += 1
            amount, currency = event.order
            if currency:
                revenue[currency] = revenue.get(currency, Decimal(0)) + amount
        answer = event.survey
        if answer is not None:
            current = surveys.get(answer.survey)
            if current is None or answer.order_key() > current.order_key():
                surveys[answer.survey] = answer
    if len(applied) == len(metrics.applied):
        return metrics
    return replace(
        metrics,
        events_by_channel=channels,
        orders=orders,
        revenue=revenue,
        surveys=surveys,
        applied=tuple(applied[-APPLIED_MEMORY:]),
        version=metrics.version + 1,
    )
