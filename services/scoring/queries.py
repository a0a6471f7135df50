"""Read models of the scoring graph: KPIs, trends and the integration index from day buckets.

A query reads the buckets of its period and of the period of the same length
before it (retention), one round trip whatever the period's length, and sums
them by ``kpi_query``'s rules: a year at 100,000 customers is at most 730
small documents per scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.scoring.adapters.ports import KpiStore
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.integration import IndexSettings, IntegrationIndex
from services.scoring.domain.kpi_buckets import ALL
from services.scoring.domain.kpi_ledger import Granularity
from services.scoring.domain.kpi_query import TrendPoint, days_of, integration, kpi_report, trend
from services.scoring.domain.kpis import KpiReport


@dataclass(frozen=True, slots=True)
class KpiAnswer:
    report: KpiReport
    trend: list[TrendPoint]


async def kpis(
    store: KpiStore,
    start: datetime,
    end: datetime,
    rates: ExchangeRates,
    *,
    channel: str | None = None,
    granularity: Granularity | None = None,
) -> KpiAnswer:
    """KPIs of ``[start, end)`` (whole UTC days) for all channels or one, with an optional trend."""
    days = days_of(start, end)
    scope = channel or ALL
    found = await store.buckets([scope], days.previous.first, days.end)
    buckets = found.get(scope, {})
    # A trend point is clipped to the period, so the period before it lies inside the
    # buckets read: it is never longer than the period.
    points = trend(buckets, days, granularity, rates) if granularity else []
    return KpiAnswer(kpi_report(buckets, days, rates), points)


async def integration_index(
    store: KpiStore, start: datetime, end: datetime, settings: IndexSettings | None = None
) -> IntegrationIndex:
    days = days_of(start, end)
    found = await store.buckets(None, days.first, days.end)
    overall = found.pop(ALL, {})
    return integration(found, overall, days, settings)
