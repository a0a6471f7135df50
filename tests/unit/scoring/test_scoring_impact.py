"""Integration impact: group KPIs, group sizes and significance tests checked against formulas."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.impact import before_and_after, compare, integrated_vs_single_channel
from services.scoring.domain.kpi_facts import KpiEvent, Order
from services.scoring.domain.kpis import Period, kpis_for

RATES = ExchangeRates("USD")
START = datetime(2026, 3, 2, tzinfo=UTC)
samples = st.lists(st.integers(0, 20).map(float), min_size=0, max_size=15)


def brute_force_u(a: list[float], b: list[float]) -> float:
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)


def welch(a: list[float], b: list[float]) -> tuple[float, float]:
    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    def var(xs: list[float]) -> float:
        return sum((x - mean(xs)) ** 2 for x in xs) / (len(xs) - 1)

    sa, sb = var(a) / len(a), var(b) / len(b)
    t = (mean(a) - mean(b)) / math.sqrt(sa + sb)
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    return t, 2 * stats.t.sf(abs(t), df)


@given(a=samples, b=samples)
def test_comparisons_match_the_welch_formula_and_pair_counting(a, b):
    result = compare("orders", a, b)

    assert (result.n_a, result.n_b) == (len(a), len(b))
    if a and b:
        assert result.difference == pytest.approx(sum(b) / len(b) - sum(a) / len(a))
    defined = len(a) >= 2 and len(b) >= 2 and len({*a, *b}) > 1
    if not defined:
        assert result.welch_p is None
        assert result.mann_whitney_p is None
        return
    assert result.mann_whitney_u == brute_force_u(a, b)
    assert result.mann_whitney_p is not None
    assert 0 <= result.mann_whitney_p <= 1
    if sum((x - sum(a) / len(a)) ** 2 for x in a) + sum((x - sum(b) / len(b)) ** 2 for x in b):
        t, p = welch(a, b)
        assert result.welch_t == pytest.approx(t)
        assert result.welch_p == pytest.approx(p)
    else:
        assert result.welch_p is None


def purchases(customer: str, channels: list[str], orders: int, day: int) -> list[KpiEvent]:
    events = [
        KpiEvent(f"{customer}-v{i}", customer, channel, START + timedelta(days=day, hours=i))
        for i, channel in enumerate(channels)
    ]
    events += [
        KpiEvent(
            f"{customer}-o{i}",
            customer,
            channels[0],
            START + timedelta(days=day, hours=10 + i),
            order=Order(f"{customer}-{day}-{i}", Decimal(20), "USD"),
        )
        for i in range(orders)
    ]
    return events


def test_integrated_customers_are_those_seen_on_two_channels_and_are_compared_as_groups():
    histories = {f"s{i}": purchases(f"s{i}", ["web"], i % 2, 1) for i in range(10)}
    histories |= {f"m{i}": purchases(f"m{i}", ["web", "store"], 2 + i % 2, 1) for i in range(10)}
    period = Period(START, START + timedelta(days=7))

    impact = integrated_vs_single_channel(histories, period, RATES)

    single = {c: e for c, e in histories.items() if c.startswith("s")}
    assert impact.kpis_a == kpis_for(single, period, RATES)
    assert (impact.kpis_a.customers, impact.kpis_b.customers) == (10, 10)
    orders = next(c for c in impact.comparisons if c.metric == "orders")
    assert (orders.mean_a, orders.mean_b) == (0.5, 2.5)
    assert orders.welch_p is not None
    assert orders.welch_p < 0.001


def test_before_and_after_a_launch_compares_the_customers_active_on_each_side():
    histories = {f"c{i}": purchases(f"c{i}", ["web"], 1, -3) for i in range(8)}
    for i in range(6):
        histories[f"c{i}"] = histories[f"c{i}"] + purchases(f"c{i}", ["store"], 3, 2)

    impact = before_and_after(histories, START, timedelta(days=7), RATES)

    assert (impact.kpis_a.customers, impact.kpis_b.customers) == (8, 6)
    revenue = next(c for c in impact.comparisons if c.metric == "revenue")
    assert (revenue.mean_a, revenue.mean_b, revenue.difference) == (20.0, 60.0, 40.0)
    # No variation within either side: Welch's standard error is 0, so only U is defined.
    assert (revenue.welch_t, revenue.welch_p) == (None, None)
    assert revenue.mann_whitney_p is not None
    assert revenue.mann_whitney_p < 0.01
    assert impact.kpis_b.revenue == Decimal(360)
