"""Trends from month rollups and a few days equal trends summed day by day.

The oracle is ``kpi_query.trend`` / ``kpi_report`` over every day bucket (what
``kpis`` computed before it read rollups): any bucket contents, any period,
any granularity, scope and currency must give the very same reports.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.adapters.in_memory import InMemoryKpiBuckets
from services.scoring.domain.currency import ExchangeRates, MissingRateError
from services.scoring.domain.kpi_buckets import (
    ALL,
    Contribution,
    Fields,
    bucket_id,
    day_number,
    day_start,
    segment_scope,
)
from services.scoring.domain.kpi_cover import cover, month_of
from services.scoring.domain.kpi_ledger import Granularity
from services.scoring.domain.kpi_query import Days, kpi_report, trend
from services.scoring.queries import KpiAnswer, kpis, plan

JAN_1 = day_number(datetime(2026, 1, 1, tzinfo=UTC))
RATES = ExchangeRates("USD", {"EUR": Decimal("1.08"), "GBP": Decimal("1.27")})
SCOPES = (ALL, "web", segment_scope("vip"))
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")


# --- the cover: a signed sum of stored buckets that is exactly the window's days ------


@given(first=st.integers(JAN_1 - 400, JAN_1 + 400), length=st.integers(1, 800))
def test_a_cover_counts_every_day_of_the_window_once_and_no_other_day(first, length):
    found = cover(Days(first, first + length))

    count: Counter[int] = Counter()
    for month in found.months:
        start, end = month_of(month)
        assert start == month
        count.update(range(start, end))
    count.update(found.days)
    count.subtract(found.minus)
    assert {day: n for day, n in count.items() if n} == dict.fromkeys(
        range(first, first + length), 1
    )


@given(first=st.integers(JAN_1 - 400, JAN_1 + 400), length=st.integers(1, 800))
def test_a_cover_never_reads_more_buckets_than_the_plain_plan(first, length):
    months, ranges = plan(first, first + length)

    assert cover(Days(first, first + length)).reads <= len(months) + sum(
        high - low for low, high in ranges
    )


def test_a_month_and_the_thirty_days_before_it_read_two_rollups_and_one_day():
    april = Days(
        day_number(datetime(2026, 4, 1, tzinfo=UTC)), day_number(datetime(2026, 5, 1, tzinfo=UTC))
    )

    assert cover(april).reads == 1
    before = cover(april.previous)  # March 2-31: March's rollup minus March 1
    assert before.months == (day_number(datetime(2026, 3, 1, tzinfo=UTC)),)
    assert before.minus == (day_number(datetime(2026, 3, 1, tzinfo=UTC)),)
    assert before.days == ()


# --- the oracle: any bucket contents, any period -------------------------------------


@st.composite
def fields_of_day(draw: st.DrawFn, day: int) -> Fields:
    """Entries of every kind a day bucket holds (their consistency does not matter: every
    rule is a sum, which is what the rollups rely on)."""
    earlier = st.integers(day - 70, day - 1) | st.just(-1)
    names = st.one_of(
        st.builds(lambda p: f"c.{p}", earlier),
        st.builds(lambda p: f"cv.{p}", earlier),
        st.builds(lambda p: f"o.{p}", earlier),
        st.builds(lambda b, a: f"rp.{min(a, b)}_{max(a, b) + 1}", earlier, earlier),
        st.builds(lambda s: f"a.nps.{s}", st.integers(0, 10)),
        st.builds(lambda s: f"a.csat.{s}", st.integers(1, 5)),
        st.builds(lambda s: f"a.ces.{s}", st.integers(1, 7)),
        st.sampled_from(["t.rn", "t.ru", "t.sn", "t.su", "t.fcr"]),
    )
    out: Fields = dict(draw(st.dictionaries(names, st.integers(0, 5), max_size=8)))
    for currency in draw(st.lists(st.sampled_from(["EUR", "USD", "GBP"]), max_size=2)):
        cents = draw(st.integers(0, 100_000))
        out[f"r.{currency}.{draw(earlier)}"] = Decimal(cents).scaleb(-2)
    return out


@st.composite
def day_buckets(draw: st.DrawFn) -> Contribution:
    days = draw(st.lists(st.integers(JAN_1 - 70, JAN_1 + 100), max_size=40, unique=True))
    return {bucket_id(day, draw(st.sampled_from(SCOPES))): draw(fields_of_day(day)) for day in days}


def _by_day(buckets: Contribution, scope: str) -> dict[int, Fields]:
    found = asyncio.run(InMemoryKpiBuckets(buckets).buckets([scope], -(10**6), 10**6))
    return found.get(scope, {})


def _brute_force(
    buckets: Contribution, days: Days, granularity: Granularity, scope: str, rates: ExchangeRates
) -> KpiAnswer:
    mine = _by_day(buckets, scope)
    return KpiAnswer(kpi_report(mine, days, rates), trend(mine, days, granularity, rates))


def _filters(scope: str) -> dict[str, str]:
    if scope == ALL:
        return {}
    if scope.startswith("segment:"):
        return {"segment_id": scope.removeprefix("segment:")}
    return {"channel": scope}


@settings(max_examples=300, deadline=None)
@given(
    buckets=day_buckets(),
    first=st.integers(JAN_1 - 40, JAN_1 + 95),
    length=st.integers(1, 130),
    granularity=st.sampled_from(GRANULARITIES),
    scope=st.sampled_from(SCOPES),
    rates=st.sampled_from([RATES, ExchangeRates("EUR", {"USD": Decimal("0.92")})]),
)
def test_a_trend_from_rollups_equals_the_trend_summed_day_by_day(
    buckets, first, length, granularity, scope, rates
):
    days = Days(first, first + length)
    start, end = day_start(days.first), day_start(days.end)

    try:
        expected: KpiAnswer | str = _brute_force(buckets, days, granularity, scope, rates)
    except MissingRateError as exc:
        expected = str(exc)
    try:
        store = InMemoryKpiBuckets(buckets)
        found: KpiAnswer | str = asyncio.run(
            kpis(store, start, end, rates, granularity=granularity, **_filters(scope))
        )
    except MissingRateError as exc:
        found = str(exc)

    assert found == expected


def test_a_year_by_month_reads_few_buckets():
    year = Days(JAN_1, day_number(datetime(2027, 1, 1, tzinfo=UTC)))
    reads = InMemoryKpiBucketsCounting({})

    answer = asyncio.run(
        kpis(reads, day_start(year.first), day_start(year.end), RATES, granularity="month")
    )

    assert len(answer.trend) == 12
    assert reads.months_read <= 25
    assert reads.days_read <= 40


class InMemoryKpiBucketsCounting(InMemoryKpiBuckets):
    months_read = 0
    days_read = 0

    async def months(self, scopes, firsts):
        self.months_read += len(firsts)
        return await super().months(scopes, firsts)

    async def days(self, scopes, numbers):
        self.days_read += len(numbers)
        return await super().days(scopes, numbers)


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_an_empty_store_gives_the_same_empty_reports(granularity):
    days = Days(day_number(datetime(2026, 2, 10, tzinfo=UTC)), JAN_1 + 92)
    start, end = day_start(days.first), day_start(days.end)

    answer = asyncio.run(kpis(InMemoryKpiBuckets({}), start, end, RATES, granularity=granularity))

    assert answer == _brute_force({}, days, granularity, ALL, RATES)
    assert answer.report.customers == 0
