"""Integration impact: KPIs before and after a date, integrated against single-channel customers.

An *integrated* customer has touches on at least two channels in the period
(their identities are linked across channels, or those touches could not be
one customer); a *single-channel* customer has touches on one. Each comparison
gives both groups' KPIs (``kpis.py``), their sizes, and per-customer metrics
compared with Welch's t-test (unequal variances) and the Mann-Whitney U test
(no normality assumed), two-sided. A p-value is null when a test is undefined:
a group with fewer than two customers, no variation at all, or (Welch) no
variation within either group.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import SupportsFloat

from scipy import stats

from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpis import KpiReport, Period, kpis_for

METRICS = ("orders", "revenue", "converted", "active_days")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One per-customer metric in two groups; ``difference`` = mean_b - mean_a."""

    metric: str
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    welch_t: float | None
    welch_p: float | None
    mann_whitney_u: float | None
    mann_whitney_p: float | None


@dataclass(frozen=True, slots=True)
class GroupImpact:
    """Group a against group b: their KPIs and per-customer metric comparisons."""

    label_a: str
    label_b: str
    kpis_a: KpiReport
    kpis_b: KpiReport
    comparisons: tuple[Comparison, ...]


def compare(metric: str, a: Sequence[float], b: Sequence[float]) -> Comparison:
    mean_a = sum(a) / len(a) if a else None
    mean_b = sum(b) / len(b) if b else None
    welch_t = welch_p = u = u_p = None
    if len(a) >= 2 and len(b) >= 2 and len({*a, *b}) > 1:
        with warnings.catch_warnings():
            # Zero variance in one group makes scipy warn and return nan; nan is mapped to null.
            warnings.simplefilter("ignore", RuntimeWarning)
            if len(set(a)) > 1 or len(set(b)) > 1:  # else the standard error is 0
                t = stats.ttest_ind(a, b, equal_var=False)
                welch_t, welch_p = _finite(t.statistic), _finite(t.pvalue)
            mw = stats.mannwhitneyu(a, b, alternative="two-sided")
            u, u_p = _finite(mw.statistic), _finite(mw.pvalue)
    return Comparison(
        metric=metric,
        n_a=len(a),
        n_b=len(b),
        mean_a=mean_a,
        mean_b=mean_b,
        difference=None if mean_a is None or mean_b is None else mean_b - mean_a,
        welch_t=welch_t,
        welch_p=welch_p,
        mann_whitney_u=u,
        mann_whitney_p=u_p,
    )


def customer_metrics(
    events: Sequence[KpiEvent], period: Period, rates: ExchangeRates
) -> dict[str, float]:
    """One customer's per-customer metrics in the period (revenue in the reporting currency)."""
    report = kpis_for({"customer": events}, period, rates)
    days = {e.at.date() for e in events if e.at in period}
    return {
        "orders": float(report.orders),
        "revenue": float(report.revenue),
        "converted": float(report.customers_with_order),
        "active_days": float(len(days)),
    }


def integrated_vs_single_channel(
    histories: Mapping[str, Sequence[KpiEvent]], period: Period, rates: ExchangeRates
) -> GroupImpact:
    """Single-channel customers (a) against integrated ones (b), of those active in the period."""
    single: dict[str, Sequence[KpiEvent]] = {}
    integrated: dict[str, Sequence[KpiEvent]] = {}
    for customer, events in histories.items():
        channels = {e.channel for e in events if e.at in period}
        if len(channels) == 1:
            single[customer] = events
        elif channels:
            integrated[customer] = events
    return _groups("single_channel", single, "integrated", integrated, period, period, rates)


def before_and_after(
    histories: Mapping[str, Sequence[KpiEvent]],
    cutover: datetime,
    window: timedelta,
    rates: ExchangeRates,
) -> GroupImpact:
    """``[cutover - window, cutover)`` (a) against ``[cutover, cutover + window)`` (b).

    Each side's group is the customers active in that window.
    """
    before = Period(cutover - window, cutover)
    after = Period(cutover, cutover + window)
    active_before = {c: e for c, e in histories.items() if any(x.at in before for x in e)}
    active_after = {c: e for c, e in histories.items() if any(x.at in after for x in e)}
    return _groups("before", active_before, "after", active_after, before, after, rates)


def before_and_after_periods(
    histories: Mapping[str, Sequence[KpiEvent]],
    period: Period,
    cutover: datetime,
    rates: ExchangeRates,
) -> GroupImpact:
    """``[period.start, cutover)`` (a) against ``[cutover, period.end)`` (b), each side's
    group the customers active in it."""
    before = Period(period.start, cutover)
    after = Period(cutover, period.end)
    active_before = {c: e for c, e in histories.items() if any(x.at in before for x in e)}
    active_after = {c: e for c, e in histories.items() if any(x.at in after for x in e)}
    return _groups("before", active_before, "after", active_after, before, after, rates)


def _groups(
    label_a: str,
    a: Mapping[str, Sequence[KpiEvent]],
    label_b: str,
    b: Mapping[str, Sequence[KpiEvent]],
    period_a: Period,
    period_b: Period,
    rates: ExchangeRates,
) -> GroupImpact:
    values_a = [customer_metrics(events, period_a, rates) for events in a.values()]
    values_b = [customer_metrics(events, period_b, rates) for events in b.values()]
    return GroupImpact(
        label_a=label_a,
        label_b=label_b,
        kpis_a=kpis_for(a, period_a, rates),
        kpis_b=kpis_for(b, period_b, rates),
        comparisons=tuple(
            compare(metric, [v[metric] for v in values_a], [v[metric] for v in values_b])
            for metric in METRICS
        ),
    )


def _finite(value: SupportsFloat) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
