from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain.default_journeys import PURCHASE
from services.journey.domain.handoffs import continuity_rate, threads
from services.journey.domain.percentiles import percentile
from services.journey.domain.stage_metrics import time_in_stage
from services.journey.domain.stages import progress
from tests.unit.journey.journey_builders import interactions, ix


def test_time_in_stage_counts_only_finished_visits():
    customers = [
        [
            ix(f"{n}a", 0, "Product Viewed", customer=f"c{n}"),
            ix(f"{n}b", hours, "Order Completed", customer=f"c{n}"),
        ]
        for n, hours in enumerate((1, 2, 3, 4, 40))
    ]
    found = [progress(PURCHASE, f"c{n}", items) for n, items in enumerate(customers)]

    times = time_in_stage(found)

    assert set(times) == {("purchase", "consideration")}
    consideration = times[("purchase", "consideration")]
    assert (consideration.samples, consideration.p50, consideration.p90) == (
        5,
        timedelta(hours=3),
        timedelta(hours=40),
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=30), st.integers(1, 100))
def test_percentile_is_the_smallest_value_with_at_least_q_percent_at_or_below(values, q):
    durations = [timedelta(minutes=v) for v in values]

    found = percentile(durations, q)

    assert found is not None
    assert found in durations
    at_or_below = sum(d <= found for d in durations)
    assert at_or_below >= math.ceil(q * len(values) / 100)
    assert sum(d < found for d in durations) < math.ceil(q * len(values) / 100)


@settings(max_examples=100, deadline=None)
@given(interactions(customers=("c1", "c2", "c3"), max_size=20))
def test_continuity_rate_equals_a_recount_of_journeys_on_two_channels_without_a_break(items):
    every = [
        t
        for c in ("c1", "c2", "c3")
        for t in threads(PURCHASE, c, [i for i in items if i.customer_id == c])
    ]
    expected = [
        len({i.channel for i in t.interactions}) >= 2
        and all(
            b.timestamp - a.timestamp <= timedelta(days=7)
            for a, b in zip(t.interactions, t.interactions[1:], strict=False)
        )
        for t in every
    ]

    assert continuity_rate(every) == (sum(expected) / len(expected) if expected else None)
