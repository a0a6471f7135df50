"""What the KPIs read from a resolved customer event: orders, survey answers, ticket steps.

Survey answers are validated against their scales (NPS 0-10, CSAT 1-5, CES 1-7,
whole numbers); an answer off its scale is left out of the KPIs and the reason
is kept on the event in ``problems``, so a report can say why an answer did not
count. The event itself still counts as activity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from services.scoring.domain import ScoringError
from services.scoring.domain.resolved import Resolved

SurveyKind = Literal["nps", "csat", "ces"]
TicketStep = Literal["opened", "responded", "reopened", "resolved"]

SCALES: Mapping[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
TICKET_EVENTS: Mapping[str, TicketStep] = {
    "support_ticket_opened": "opened",
    "support_ticket_responded": "responded",
    "support_ticket_reopened": "reopened",
    "support_ticket_resolved": "resolved",
}


class SurveyScaleError(ScoringError):
    """A survey answer is not a whole number on its survey's scale."""


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class SurveyScore:
    survey: SurveyKind
    score: int


@dataclass(frozen=True, slots=True)
class TicketUpdate:
    ticket_id: str
    step: TicketStep


@dataclass(frozen=True, slots=True)
class KpiEvent:
    """One resolved event as the KPIs see it; at most one of order, survey, ticket is set."""

    id: str
    customer_id: str
    channel: str
    at: datetime
    order: Order | None = None
    survey: SurveyScore | None = None
    ticket: TicketUpdate | None = None
    problems: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, event_id: str, data: Mapping[str, Any]) -> KpiEvent:
        event = Resolved.of(event_id, data)
        at, name, properties = event.at, event.name, event.properties
        base = cls(event_id, event.customer_id, event.channel, at)
        if name == "order_completed":
            return _with_order(base, properties, data.get("money"))
        if name == "survey_answered":
            try:
                answer = survey_score(properties.get("survey"), properties.get("score"))
            except SurveyScaleError as exc:
                return cls(base.id, base.customer_id, base.channel, at, problems=(str(exc),))
            return cls(base.id, base.customer_id, base.channel, at, survey=answer)
        step = TICKET_EVENTS.get(str(name))
        ticket_id = properties.get("ticket_id")
        if step is not None and ticket_id not in (None, ""):
            ticket = TicketUpdate(str(ticket_id), step)
            return cls(base.id, base.customer_id, base.channel, at, ticket=ticket)
        if step is not None:
            return cls(
                base.id,
                base.customer_id,
                base.channel,
                at,
                problems=(f"{name} without properties.ticket_id is not counted as a ticket step",),
            )
        return base


def survey_score(survey: Any, score: Any) -> SurveyScore:
    """A validated answer, or a SurveyScaleError naming the survey, the value and the scale."""
    kind = str(survey or "").strip().lower()
    if kind not in SCALES:
        raise SurveyScaleError(
            f"survey {survey!r} is not one of nps, csat, ces; set properties.survey to one of them"
        )
    low, high = SCALES[kind]
    value: Decimal | None = None
    if not isinstance(score, bool) and isinstance(score, int | float | str | Decimal):
        try:
            value = Decimal(str(score).strip())
        except InvalidOperation:
            value = None
    if value is None or not value.is_finite() or value != value.to_integral_value():
        raise SurveyScaleError(
            f"{kind} answer {score!r} is not a whole number; send properties.score as an "
            f"integer from {low} to {high}"
        )
    if not low <= value <= high:
        raise SurveyScaleError(
            f"{kind} answer {score!r} is outside its {low}-{high} scale; send properties.score "
            f"as an integer from {low} to {high}"
        )
    return SurveyScore(cast(SurveyKind, kind), int(value))


def _with_order(base: KpiEvent, properties: Mapping[str, Any], money: Any) -> KpiEvent:
    order_id = properties.get("order_id")
    if order_id in (None, ""):
        problem = "order_completed without properties.order_id is not counted as an order"
        return KpiEvent(base.id, base.customer_id, base.channel, base.at, problems=(problem,))
    amount, currency, problems = Decimal(0), "", tuple[str, ...]()
    if isinstance(money, Mapping):
        raw = money.get("revenue", money.get("total"))
        try:
            amount = Decimal(str(raw)) if raw is not None else Decimal(0)
            currency = str(money.get("currency") or "")
        except InvalidOperation:
            problems = (
                f"order {order_id}: revenue {raw!r} is not a decimal; counted with no revenue",
            )
    order = Order(str(order_id), amount if currency else Decimal(0), currency)
    return KpiEvent(
        base.id, base.customer_id, base.channel, base.at, order=order, problems=problems
    )
