"""Read models of the scoring graph: KPIs, trends and the integration index from day buckets.

A query reads the buckets of its period and of the period of the same length
before it (retention) and sums them by ``kpi_query``'s rules. Whole calendar
months are read as one monthly rollup each (``kpi_buckets.month_rollup``), the
days at the edges one by one: a year is 24 rollups, not 730 days. A trend sums
each point's days (and the days before it) from the fewest rollups and days
that give them exactly (``kpi_cover``): a year by month is about 25 rollups and
a few dozen days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.scoring.adapters.ports import KpiBuckets, KpiStore
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.integration import IndexSettings, IntegrationIndex
from services.scoring.domain.kpi_buckets import (
    ALL,
    Fields,
    day_number,
    day_start,
    segment_scope,
)
from services.scoring.domain.kpi_cover import Cover, cover, pieces, summed
from services.scoring.domain.kpi_ledger import Granularity, bucket_of
from services.scoring.domain.kpi_query import (
    PREVIOUS_FIELDS,
    Days,
    PeriodError,
    TrendPoint,
    days_of,
    integration,
    kpi_report,
    summed_report,
    trend_parts,
)
from services.scoring.domain.kpis import KpiReport


@dataclass(frozen=True, slots=True)
class KpiAnswer:
    report: KpiReport
    trend: list[TrendPoint]


async def kpis(
    store: KpiBuckets,
    start: datetime,
    end: datetime,
    rates: ExchangeRates,
    *,
    channel: str | None = None,
    segment_id: str | None = None,
    granularity: Granularity | None = None,
) -> KpiAnswer:
    """KPIs of ``[start, end)`` (whole UTC days) for all channels, one channel or one segment's
    current members, with an optional trend."""
    days = days_of(start, end)
    if channel is not None and segment_id is not None:
        raise PeriodError(
            "kpis answers a channel or a segment, not both; leave out channel or segmentId"
        )
    scope = segment_scope(segment_id) if segment_id is not None else channel or ALL
    if granularity is not None:
        return await _with_trend(store, scope, days, granularity, rates)
    buckets = await read_period(store, scope, days.previous.first, days.first)
    buckets.update(await read_period(store, scope, days.first, days.end))
    return KpiAnswer(kpi_report(buckets, days, rates), [])


async def _with_trend(
    store: KpiBuckets, scope: str, days: Days, granularity: Granularity, rates: ExchangeRates
) -> KpiAnswer:
    parts = trend_parts(days, granularity)
    covers = {w: cover(w) for p in (days, *parts) for w in (p, p.previous)}
    months, found = await read_covers(store, scope, covers.values())

    def report(part: Days) -> KpiReport:
        before = summed(covers[part.previous], months, found, PREVIOUS_FIELDS)
        stored = pieces(covers[part], months, found)
        if stored is not None and len(stored) > 1:
            # kpi_report sums several buckets as it reads them: no summed copy first.
            return kpi_report({**stored, part.previous.first: before}, part, rates)
        return summed_report(summed(covers[part], months, found), before, part, rates)

    return KpiAnswer(report(days), [TrendPoint(p, report(p)) for p in parts])


async def read_covers(
    store: KpiBuckets, scope: str, covers: Iterable[Cover]
) -> tuple[dict[int, Fields], dict[int, Fields]]:
    """(month rollups, day buckets) that ``covers`` name, read in two queries."""
    wanted = list(covers)
    firsts = sorted({m for c in wanted for m in c.months})
    numbers = sorted({d for c in wanted for d in (*c.days, *c.minus)})
    months = (await store.months([scope], firsts)).get(scope, {})
    found = (await store.days([scope], numbers)).get(scope, {}) if numbers else {}
    return months, found


async def read_period(store: KpiBuckets, scope: str, first: int, end: int) -> dict[int, Fields]:
    """The buckets covering days ``[first, end)``: whole months as one rollup each (keyed by
    their first day), the days at the edges one by one."""
    months, ranges = plan(first, end)
    out = dict((await store.months([scope], months)).get(scope, {}))
    for low, high in ranges:
        out.update((await store.buckets([scope], low, high)).get(scope, {}))
    return out


def plan(first: int, end: int) -> tuple[list[int], list[tuple[int, int]]]:
    """The whole calendar months inside ``[first, end)`` (first days) and the day ranges left."""
    months: list[int] = []
    ranges: list[tuple[int, int]] = []
    day = first
    while day < end:
        month = bucket_of(day_start(day), "month")
        month_first, month_end = day_number(month.start), day_number(month.end)
        if month_first == day and month_end <= end:
            months.append(day)
            day = month_end
            continue
        stop = min(month_end, end)
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], stop)
        else:
            ranges.append((day, stop))
        day = stop
    return months, ranges


async def integration_index(
    store: KpiStore, start: datetime, end: datetime, settings: IndexSettings | None = None
) -> IntegrationIndex:
    days = days_of(start, end)
    found = await store.buckets(None, days.first, days.end)
    overall = found.pop(ALL, {})
    return integration(found, overall, days, settings)
