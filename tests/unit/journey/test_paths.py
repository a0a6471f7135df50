"""Paths and transitions against a recount from raw touchpoints, plus the edges by example."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain import JourneyError
from services.journey.domain.interactions import Interaction
from services.journey.domain.paths import (
    by_channel,
    by_event,
    paths_into,
    paths_out_of,
    sessions,
    transitions,
)
from tests.unit.journey.journey_builders import interactions, ix

CUSTOMERS = ("c1", "c2", "c3")


def _raw_pairs(
    items: list[Interaction], gap: timedelta | None
) -> list[tuple[Interaction, Interaction]]:
    """Consecutive pairs read straight off each customer's sorted touchpoints."""
    pairs = []
    for customer in CUSTOMERS:
        mine = sorted(
            (i for i in items if i.customer_id == customer), key=lambda i: (i.timestamp, i.id)
        )
        for a, b in itertools.pairwise(mine):
            if gap is None or b.timestamp - a.timestamp < gap:
                pairs.append((a, b))
    return pairs


gaps = st.one_of(st.none(), st.integers(1, 240).map(lambda m: timedelta(minutes=m)))


@settings(max_examples=300, deadline=None)
@given(
    interactions(customers=CUSTOMERS, max_size=20, hours=4 * 6),
    gaps,
    st.sampled_from((by_event, by_channel)),
)
def test_transition_counts_equal_a_recount_of_consecutive_pairs(items, gap, node):
    expected = Counter((node(a), node(b)) for a, b in _raw_pairs(items, gap))

    found = transitions(items, node, session_gap=gap, top=None)

    assert {(t.source, t.target): t.count for t in found} == dict(expected)
    assert [t.count for t in found] == sorted((t.count for t in found), reverse=True)


@settings(max_examples=300, deadline=None)
@given(interactions(customers=CUSTOMERS, max_size=20, hours=4 * 6), gaps, st.integers(1, 3))
def test_paths_into_and_out_of_a_step_equal_a_recount(items, gap, depth):
    before: Counter[tuple[str, ...]] = Counter()
    after: Counter[tuple[str, ...]] = Counter()
    for customer in CUSTOMERS:
        mine = sorted(
            (i for i in items if i.customer_id == customer), key=lambda i: (i.timestamp, i.id)
        )
        for n, item in enumerate(mine):
            if item.event != "product_viewed":
                continue
            back: list[str] = []
            k = n
            while (
                k > 0
                and len(back) < depth
                and (gap is None or mine[k].timestamp - mine[k - 1].timestamp < gap)
            ):
                back.insert(0, mine[k - 1].event)
                k -= 1
            forward: list[str] = []
            k = n
            while (
                k + 1 < len(mine)
                and len(forward) < depth
                and (gap is None or mine[k + 1].timestamp - mine[k].timestamp < gap)
            ):
                forward.append(mine[k + 1].event)
                k += 1
            before[tuple(back)] += 1
            after[tuple(forward)] += 1

    into = paths_into(items, "product_viewed", depth=depth, session_gap=gap, top=None)
    out = paths_out_of(items, "product_viewed", depth=depth, session_gap=gap, top=None)

    assert {p.path: p.count for p in into} == dict(before)
    assert {p.path: p.count for p in out} == dict(after)


def test_thirty_minutes_of_inactivity_start_a_new_session():
    items = [ix("1", 0, "A"), ix("2", 29 / 60, "B"), ix("3", 59 / 60, "C")]

    assert [[i.id for i in s] for s in sessions(items)] == [["1", "2"], ["3"]]


def test_top_n_keeps_the_most_frequent_transitions_ties_by_name():
    items = [
        ix("1", 0, "A"),
        ix("2", 0.1, "B"),
        ix("3", 0.2, "A"),
        ix("4", 0.3, "B"),
        ix("5", 0.4, "C"),
    ]

    found = transitions(items, top=2)

    assert [(t.source, t.target, t.count) for t in found] == [("a", "b", 2), ("b", "a", 1)]


def test_channel_paths_across_sessions_can_collapse_repeats():
    items = [
        ix("1", 0, "Product Viewed", "web"),
        ix("2", 0.1, "Product Added to Wishlist", "web"),
        ix("3", 30, "Store Visited", "store"),
        ix("4", 50, "Order Completed", "mobile_app"),
    ]

    found = transitions(items, by_channel, session_gap=None, collapse_repeats=True)

    assert [(t.source, t.target) for t in found] == [("store", "mobile_app"), ("web", "store")]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: transitions([], top=-1), "`top` must be zero or more"),
        (lambda: paths_into([], "a", depth=0), "`depth` must be 1 or more"),
        (lambda: sessions([], timedelta(0)), "`session_gap` must be positive"),
    ],
)
def test_bad_path_arguments_say_what_to_fix(call, message):
    with pytest.raises(JourneyError, match=message):
        call()
