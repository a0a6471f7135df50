"""A customer's orders and revenue (``Customer.scores``) are counted as the KPIs count them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings

from services.scoring.domain.customer_orders import order_totals
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpis import Period, kpis_for
from tests.support.resolved_events import at, resolved
from tests.unit.scoring.test_scoring_kpis import RATES, raw_events


@settings(max_examples=200, deadline=None)
@given(events=raw_events())
def test_orders_and_revenue_equal_the_kpis_of_the_whole_history(events):
    mine = [KpiEvent(e.id, "c1", e.channel, e.at, e.order, e.survey, e.ticket) for e in events]
    totals = order_totals(mine)

    if not mine:
        assert (totals.orders, dict(totals.revenue)) == (0, {})
        return
    whole = Period(min(e.at for e in mine), max(e.at for e in mine) + timedelta(seconds=1))
    report = kpis_for({"c1": mine}, whole, RATES)
    assert totals.orders == report.orders
    assert dict(totals.revenue) == dict(report.revenue_by_currency)


def _order(message_id: str, hour: int, **properties: object) -> KpiEvent:
    event = resolved(
        "track",
        message_id,
        "c1",
        event="Order Completed",
        properties=properties,
        timestamp=at(hour),
    )
    return KpiEvent.from_data(event.id, event.data)


def test_a_replayed_order_counts_once_at_its_earliest_event_and_total_counts_without_revenue():
    events = [
        _order("m2", 10, order_id="o1", revenue="30", currency="EUR"),  # the same order, resent
        _order("m1", 9, order_id="o1", revenue="25.50", currency="EUR"),
        _order("m3", 11, order_id="o2", total="40", currency="GBP"),
    ]

    totals = order_totals(events)

    assert totals.orders == 2
    assert dict(totals.revenue) == {"EUR": Decimal("25.50"), "GBP": Decimal("40")}
