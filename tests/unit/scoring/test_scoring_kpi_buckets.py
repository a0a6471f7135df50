"""Day buckets: contributions summed per bucket answer any run of days like the raw events do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.kpi_buckets import (
    ALL,
    Fact,
    Fields,
    combine,
    customer_contribution,
    day_number,
    day_start,
    difference,
    order_contribution,
    parse_bucket_id,
)
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpi_query import Buckets, Days, kpi_report
from services.scoring.domain.kpis import Period
from tests.unit.scoring.test_scoring_kpis import (
    CHANNELS,
    RATES,
    START,
    assert_matches,
    oracle,
    raw_events,
)


def buckets_of(events: Sequence[KpiEvent]) -> dict[str, Buckets]:
    by_customer: dict[str, list[Fact]] = {}
    by_order: dict[str, list[KpiEvent]] = {}
    for e in events:
        by_customer.setdefault(e.customer_id, []).append(Fact(e))
        if e.order is not None:
            by_order.setdefault(e.order.order_id, []).append(e)
    total = combine(
        [customer_contribution(f) for f in by_customer.values()]
        + [order_contribution(o) for o in by_order.values()]
    )
    scopes: dict[str, dict[int, Fields]] = {}
    for bucket, fields in total.items():
        day, scope = parse_bucket_id(bucket)
        scopes.setdefault(scope, {})[day] = fields
    return dict(scopes)


@settings(max_examples=200, deadline=None)
@given(
    events=raw_events(),
    first=st.integers(-3, 40),
    length=st.integers(1, 30),
    channel=st.sampled_from([None, *CHANNELS]),
)
def test_any_run_of_days_equals_a_recomputation_from_the_raw_events(events, first, length, channel):
    start = day_number(START) + first
    days = Days(start, start + length)
    scopes = buckets_of(events)

    report = kpi_report(scopes.get(channel or ALL, {}), days, RATES)

    period = Period(day_start(days.first), day_start(days.end))
    assert_matches(report, oracle(events, {}, period, period.previous(), channel))


@settings(max_examples=100, deadline=None)
@given(events=raw_events(), cut=st.integers(0, 30))
def test_replacing_a_contribution_by_its_difference_equals_computing_it_afresh(events, cut):
    facts = [Fact(e) for e in events]
    old, new = customer_contribution(facts[:cut]), customer_contribution(facts)

    assert combine([old, difference(old, new)]) == combine([new])


def test_a_customer_active_on_two_days_counts_once_in_a_period_spanning_both():
    first = KpiEvent("e1", "c1", "web", START)
    second = KpiEvent("e2", "c1", "web", START + timedelta(days=3))
    scopes = buckets_of([first, second])

    report = kpi_report(scopes[ALL], Days(day_number(START), day_number(START) + 7), RATES)

    assert report.customers == 1
