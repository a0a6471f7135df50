"""A customer's orders and revenue over their whole history, counted as the KPIs count them.

``orders`` = distinct ``order_id`` of ``Order Completed``; ``revenue`` per currency
= the amount of each order's earliest event (by event time, then event id), read
from ``money.revenue`` or else ``money.total`` (``kpi_facts.py``); an order
without a currency counts for no revenue (``kpis.order_revenue``). So an order
resent under a new event id counts once, and no currency is assumed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpis import order_revenue


@dataclass(frozen=True, slots=True)
class OrderTotals:
    orders: int = 0
    revenue: Mapping[str, Decimal] = field(default_factory=dict)


def order_totals(events: Iterable[KpiEvent]) -> OrderTotals:
    """The orders and revenue per currency of one customer's events."""
    orders, revenue = order_revenue(
        (e.order.order_id, e.at, e.id, e.order.amount, e.order.currency)
        for e in events
        if e.order is not None
    )
    return OrderTotals(orders, revenue)
