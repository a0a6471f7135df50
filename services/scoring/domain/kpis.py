"""KPIs over a period, as DESIGN.md §5 defines them, built from additive per-customer counts.

A period is ``[start, end)`` by event time. Each customer contributes a
``KpiCounts`` to a period (one customer, their orders, answers and tickets);
counts add and subtract, so a base-wide figure is the sum of its customers'
contributions, and a change to one customer (a new or late event, a merge, a
split) replaces only that customer's contribution (``kpi_ledger.py``).

Definitions beyond DESIGN.md's (``customers``, ``orders``, ``revenue``,
``aov``, ``conversionRate``, ``repeatPurchaseRate``, ``nps``, ``csat``, ``ces``):

- an order's revenue is that of its earliest ``Order Completed`` event in the
  period (by event time, then event id), so a resent order counts once;
- ``purchase_frequency`` = orders / customers with an order;
- ``historical_clv`` = revenue (in the reporting currency) / customers with an
  order: the average revenue a purchasing customer brought in the period;
- ``retention_rate`` = customers active in the previous period (same length,
  just before; the previous calendar bucket for trends) who are active in this
  one / customers active in the previous period; ``churn_rate`` = 1 - retention;
- tickets: a ticket opens at its earliest ``Support Ticket Opened``, in that
  event's channel (its channel for per-channel figures); its first response is
  its earliest ``Support Ticket Responded`` at or after opening; it resolves at
  its latest ``Support Ticket Resolved``. First response times count in the
  period the ticket opened in, resolutions in the period it resolved in;
  ``first_contact_resolution`` = resolved tickets never reopened (no
  ``Support Ticket Reopened``, a single ``Opened``) / resolved tickets. Tickets
  without an ``Opened`` event have no start and are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_facts import KpiEvent

# (order_id, event time, event id, amount, currency): the earliest per order_id counts.
OrderRef = tuple[str, datetime, str, Decimal, str]
AnswerRef = tuple[str, int]
MICROSECONDS_PER_HOUR = 3_600_000_000
Key = TypeVar("Key")


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True, slots=True)
class KpiCounts:
    """Additive counts behind the KPIs; ``orders`` and ``answers`` are multisets."""

    customers: int = 0
    converted: int = 0
    repeaters: int = 0
    retained: int = 0
    orders: Mapping[OrderRef, int] = field(default_factory=dict)
    answers: Mapping[AnswerRef, int] = field(default_factory=dict)
    first_responses: int = 0
    first_response_us: int = 0
    resolved: int = 0
    resolution_us: int = 0
    first_contact_resolved: int = 0

    def plus(self, other: KpiCounts, sign: int = 1) -> KpiCounts:
        return KpiCounts(
            customers=self.customers + sign * other.customers,
            converted=self.converted + sign * other.converted,
            repeaters=self.repeaters + sign * other.repeaters,
            retained=self.retained + sign * other.retained,
            orders=_add(self.orders, other.orders, sign),
            answers=_add(self.answers, other.answers, sign),
            first_responses=self.first_responses + sign * other.first_responses,
            first_response_us=self.first_response_us + sign * other.first_response_us,
            resolved=self.resolved + sign * other.resolved,
            resolution_us=self.resolution_us + sign * other.resolution_us,
            first_contact_resolved=self.first_contact_resolved
            + sign * other.first_contact_resolved,
        )

    def minus(self, other: KpiCounts) -> KpiCounts:
        return self.plus(other, -1)


EMPTY = KpiCounts()


@dataclass(frozen=True, slots=True)
class TicketTrace:
    ticket_id: str
    channel: str
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    reopened: bool


def ticket_traces(events: Iterable[KpiEvent]) -> dict[str, TicketTrace]:
    """Each ticket of one customer with an ``Opened`` event, from all of its steps."""
    steps: dict[str, list[KpiEvent]] = {}
    for event in events:
        if event.ticket is not None:
            steps.setdefault(event.ticket.ticket_id, []).append(event)
    traces = {}
    for ticket_id, mine in steps.items():
        mine.sort(key=lambda e: (e.at, e.id))
        opened = [e for e in mine if e.ticket and e.ticket.step == "opened"]
        if not opened:
            continue
        start = opened[0]
        responses = [
            e.at for e in mine if e.ticket and e.ticket.step == "responded" and e.at >= start.at
        ]
        resolutions = [e.at for e in mine if e.ticket and e.ticket.step == "resolved"]
        reopened = len(opened) > 1 or any(e.ticket and e.ticket.step == "reopened" for e in mine)
        traces[ticket_id] = TicketTrace(
            ticket_id=ticket_id,
            channel=start.channel,
            opened_at=start.at,
            first_response_at=min(responses) if responses else None,
            resolved_at=max(resolutions) if resolutions else None,
            reopened=reopened,
        )
    return traces


def contribution(
    events: Sequence[KpiEvent], period: Period, previous: Period | None, channel: str | None
) -> KpiCounts:
    """One customer's counts in ``period`` (``channel`` None: all channels)."""
    start, end = period.start, period.end
    active = active_before = has_tickets = False
    order_ids: set[str] = set()
    orders: dict[OrderRef, int] = {}
    answers: dict[AnswerRef, int] = {}
    for event in events:  # one pass: the ledger calls this for every bucket an event reaches
        has_tickets = has_tickets or event.ticket is not None
        if channel is not None and event.channel != channel:
            continue
        if not start <= event.at < end:
            active_before = active_before or (previous is not None and event.at in previous)
            continue
        active = True
        if event.order is not None:
            order = event.order
            order_ids.add(order.order_id)
            ref = (order.order_id, event.at, event.id, order.amount, order.currency)
            orders[ref] = orders.get(ref, 0) + 1
        if event.survey is not None:
            key = (event.survey.survey, event.survey.score)
            answers[key] = answers.get(key, 0) + 1
    counts = KpiCounts(
        customers=int(active),
        converted=int(bool(order_ids)),
        repeaters=int(len(order_ids) >= 2),
        retained=int(active and active_before),
        orders=orders,
        answers=answers,
    )
    return _with_tickets(counts, events, period, channel) if has_tickets else counts


def _with_tickets(
    counts: KpiCounts, events: Sequence[KpiEvent], period: Period, channel: str | None
) -> KpiCounts:
    responses = response_us = resolved = resolution_us = fcr = 0
    for trace in ticket_traces(events).values():
        if channel is not None and trace.channel != channel:
            continue
        if trace.first_response_at is not None and trace.opened_at in period:
            responses += 1
            response_us += _microseconds(trace.first_response_at - trace.opened_at)
        if trace.resolved_at is not None and trace.resolved_at in period:
            resolved += 1
            resolution_us += _microseconds(max(trace.resolved_at - trace.opened_at, timedelta(0)))
            fcr += 0 if trace.reopened else 1
    return KpiCounts(
        customers=counts.customers,
        converted=counts.converted,
        repeaters=counts.repeaters,
        retained=counts.retained,
        orders=counts.orders,
        answers=counts.answers,
        first_responses=responses,
        first_response_us=response_us,
        resolved=resolved,
        resolution_us=resolution_us,
        first_contact_resolved=fcr,
    )


@dataclass(frozen=True, slots=True)
class KpiReport:
    """DESIGN.md's ``KpiReport`` plus the counts each figure is a ratio of (its explanation)."""

    currency: str
    customers: int
    orders: int
    revenue: Decimal
    revenue_by_currency: Mapping[str, Decimal]
    aov: Decimal | None
    conversion_rate: float | None
    repeat_purchase_rate: float | None
    purchase_frequency: float | None
    historical_clv: Decimal | None
    retention_rate: float | None
    churn_rate: float | None
    nps: float | None
    csat: float | None
    ces: float | None
    first_contact_resolution: float | None
    avg_resolution_hours: float | None
    avg_first_response_hours: float | None
    customers_with_order: int
    customers_with_repeat_order: int
    previous_customers: int | None
    retained_customers: int
    answers: Mapping[str, int]
    promoters: int
    detractors: int
    satisfied: int
    resolved_tickets: int
    responded_tickets: int


@dataclass(frozen=True, slots=True)
class KpiTotals:
    """The sums every KPI is a ratio of, however they were counted (``report``, ``kpi_query``)."""

    customers: int
    converted: int
    repeaters: int
    retained: int
    orders: int
    revenue_by_currency: Mapping[str, Decimal]
    answers: Mapping[AnswerRef, int]
    first_responses: int
    first_response_us: int
    resolved: int
    resolution_us: int
    first_contact_resolved: int


def report(
    counts: KpiCounts, rates: ExchangeRates, previous_customers: int | None = None
) -> KpiReport:
    orders, by_currency = order_revenue(ref for ref, n in counts.orders.items() if n > 0)
    totals = KpiTotals(
        customers=counts.customers,
        converted=counts.converted,
        repeaters=counts.repeaters,
        retained=counts.retained,
        orders=orders,
        revenue_by_currency=by_currency,
        answers=counts.answers,
        first_responses=counts.first_responses,
        first_response_us=counts.first_response_us,
        resolved=counts.resolved,
        resolution_us=counts.resolution_us,
        first_contact_resolved=counts.first_contact_resolved,
    )
    return report_of(totals, rates, previous_customers)


def order_revenue(refs: Iterable[OrderRef]) -> tuple[int, dict[str, Decimal]]:
    """Distinct order ids and their revenue per currency: each order's earliest event (by
    event time, then event id) counts; an order without a currency counts for no revenue."""
    earliest: dict[str, OrderRef] = {}
    for ref in refs:
        if ref[0] not in earliest or ref[1:3] < earliest[ref[0]][1:3]:
            earliest[ref[0]] = ref
    by_currency: dict[str, Decimal] = {}
    for _, _, _, amount, currency in earliest.values():
        if currency:
            by_currency[currency] = by_currency.get(currency, Decimal(0)) + amount
    return len(earliest), by_currency


def report_of(
    totals: KpiTotals, rates: ExchangeRates, previous_customers: int | None = None
) -> KpiReport:
    """The KPIs of ``totals``: one set of formulas for every way of counting."""
    by_currency = dict(totals.revenue_by_currency)
    revenue = rates.convert(by_currency)
    orders = totals.orders
    answered = dict.fromkeys(("nps", "csat", "ces"), 0)
    promoters = detractors = satisfied = effort = 0
    for (kind, score), n in totals.answers.items():
        answered[kind] += n
        promoters += n if kind == "nps" and score >= 9 else 0
        detractors += n if kind == "nps" and score <= 6 else 0
        satisfied += n if kind == "csat" and score >= 4 else 0
        effort += n * score if kind == "ces" else 0
    retention = _ratio(totals.retained, previous_customers or 0)
    return KpiReport(
        currency=rates.reporting,
        customers=totals.customers,
        orders=orders,
        revenue=revenue,
        revenue_by_currency=by_currency,
        aov=revenue / orders if orders else None,
        conversion_rate=_ratio(totals.converted, totals.customers),
        repeat_purchase_rate=_ratio(totals.repeaters, totals.converted),
        purchase_frequency=_ratio(orders, totals.converted),
        historical_clv=revenue / totals.converted if totals.converted else None,
        retention_rate=retention,
        churn_rate=None if retention is None else 1 - retention,
        nps=_percent(promoters - detractors, answered["nps"]),
        csat=_percent(satisfied, answered["csat"]),
        ces=_ratio(effort, answered["ces"]),
        first_contact_resolution=_ratio(totals.first_contact_resolved, totals.resolved),
        avg_resolution_hours=_hours(totals.resolution_us, totals.resolved),
        avg_first_response_hours=_hours(totals.first_response_us, totals.first_responses),
        customers_with_order=totals.converted,
        customers_with_repeat_order=totals.repeaters,
        previous_customers=previous_customers,
        retained_customers=totals.retained,
        answers=answered,
        promoters=promoters,
        detractors=detractors,
        satisfied=satisfied,
        resolved_tickets=totals.resolved,
        responded_tickets=totals.first_responses,
    )


def kpis_for(
    histories: Mapping[str, Sequence[KpiEvent]],
    period: Period,
    rates: ExchangeRates,
    *,
    channel: str | None = None,
) -> KpiReport:
    """KPIs of the given customers (the whole base, a segment, one customer) from their events.

    ``histories`` maps each customer to their events, duplicates removed; any
    period works, not only calendar buckets.
    """
    total = EMPTY
    previous_customers = 0
    before = period.previous()
    for events in histories.values():
        total = total.plus(contribution(events, period, before, channel))
        scoped = (e for e in events if channel is None or e.channel == channel)
        previous_customers += 1 if any(e.at in before for e in scoped) else 0
    return report(total, rates, previous_customers)


def _add(left: Mapping[Key, int], right: Mapping[Key, int], sign: int) -> dict[Key, int]:
    out = dict(left)
    for key, n in right.items():
        value = out.get(key, 0) + sign * n
        if value:
            out[key] = value
        else:
            out.pop(key, None)
    return out


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def _hours(microseconds: int, n: int) -> float | None:
    return microseconds / n / MICROSECONDS_PER_HOUR if n else None


def _microseconds(span: timedelta) -> int:
    return span // timedelta(microseconds=1)
