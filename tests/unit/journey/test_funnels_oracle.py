"""Funnel figures against a brute-force recount over every combination of raw events."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain.funnels import Exclusion, FunnelMode, FunnelQuery, funnel
from services.journey.domain.interactions import Interaction
from tests.unit.journey.journey_builders import at, interactions

NAMES = (
    ("A", "track"),
    ("A", "track"),
    ("B", "track"),
    ("B", "track"),
    ("C", "track"),
    ("X", "track"),
    ("A", "page"),
)
CUSTOMERS = ("c1", "c2", "c3")


def _path_ok(query: FunnelQuery, path, timeline) -> bool:
    """DESIGN's definition read literally, plus strict adjacency and exclusions."""
    times = [item.timestamp for item in path]
    if not query.start <= times[0] < query.end or times[-1] - times[0] > query.within:
        return False
    if any(b <= a for a, b in itertools.pairwise(times)):
        return False
    if query.mode == "strict":
        behaviour = [item for item in timeline if item.kind in ("track", "page", "screen")]
        positions = [behaviour.index(item) for item in path]
        if any(b != a + 1 for a, b in itertools.pairwise(positions)):
            return False
    for name, first, last in query.excluded:
        if last < len(path) and any(
            item.kind == "track"
            and item.event == name
            and times[first] < item.timestamp < times[last]
            for item in timeline
        ):
            return False
    return True


def _any_order_ok(query: FunnelQuery, path: tuple[Interaction, ...]) -> bool:
    if len({item.id for item in path}) < len(path):
        return False
    times = [item.timestamp for item in path]
    in_period = query.start <= min(times) < query.end
    return in_period and max(times) - min(times) <= query.within


def _oracle(query: FunnelQuery, items: list[Interaction]):
    depths, times = {}, []
    for customer in CUSTOMERS:
        timeline = sorted(
            (i for i in items if i.customer_id == customer), key=lambda i: (i.timestamp, i.id)
        )
        pools = [[i for i in timeline if i.kind == "track" and i.event == e] for e in query.events]
        depth, completed = 0, []
        for k in range(1, len(pools) + 1):
            ok = [
                path
                for path in itertools.product(*pools[:k])
                if (
                    _any_order_ok(query, path)
                    if query.mode == "any_order"
                    else _path_ok(query, path, timeline)
                )
            ]
            if not ok:
                break
            depth = k
            completed = ok
        if depth:
            depths[customer] = depth
        if depth == len(pools):

            def start(path: tuple[Interaction, ...]) -> datetime:
                return min(i.timestamp for i in path)

            first = min(start(path) for path in completed)
            times.append(
                min(max(i.timestamp for i in p) - first for p in completed if start(p) == first)
            )
    return depths, sorted(times)


@st.composite
def queries(draw: st.DrawFn) -> FunnelQuery:
    mode: FunnelMode = draw(st.sampled_from(("ordered", "strict", "any_order")))
    steps = tuple(draw(st.lists(st.sampled_from(("A", "B", "C")), min_size=1, max_size=3)))
    exclusions: tuple[Exclusion, ...] = ()
    if mode != "any_order" and len(steps) > 1 and draw(st.booleans()):
        after = draw(st.integers(1, len(steps) - 1))
        before = draw(st.integers(after + 1, len(steps)))
        exclusions = (Exclusion("X", after, before),)
    start = draw(st.integers(0, 4))
    return FunnelQuery(
        steps,
        at(start),
        at(start + draw(st.integers(1, 8))),
        timedelta(hours=draw(st.integers(0, 6))),
        mode,
        exclusions,
    )


# A coarse clock (whole hours over a day) makes ties, window edges and period edges common.
@settings(max_examples=500, deadline=None)
@given(
    queries(),
    interactions(
        customers=CUSTOMERS, min_size=8, max_size=24, vocabulary=NAMES, hours=4 * 10, step=4
    ),
)
def test_funnel_equals_brute_force_recount(query, items):
    depths, times = _oracle(query, items)

    result = funnel(query, items)

    assert dict(result.depths) == depths
    for k, step in enumerate(result.steps, 1):
        here = {c for c, d in depths.items() if d >= k}
        before = {c for c, d in depths.items() if d >= k - 1}
        assert step.customers == len(here)
        if k == 1:
            assert step.conversion_from_previous is None
        else:
            assert step.conversion_from_previous == (len(here) / len(before) if before else None)
            assert set(step.dropped) == before - here
            assert step.drop_off == len(before - here)
    assert list(result.times_to_convert) == times
