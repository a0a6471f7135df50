from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain.default_journeys import PURCHASE, SERVICE
from services.journey.domain.handoffs import continuity_rate, threads
from tests.unit.journey.journey_builders import interactions, ix

WISHLIST_STORE_APP = [
    ix("e1", 0, "Product Added to Wishlist", "web"),
    ix("e2", 0.5, "Product Viewed", "web"),
    ix("e3", 30, "Store Visited", "store"),
    ix("e4", 50, "Order Completed", "mobile_app"),
]


def test_wishlist_on_web_store_visit_purchase_in_app_is_one_journey_with_two_handoffs():
    (thread,) = threads(PURCHASE, "c1", WISHLIST_STORE_APP)

    assert thread.channels == ("web", "store", "mobile_app")
    assert [(h.from_channel, h.to_channel, h.from_id, h.to_id) for h in thread.handoffs] == [
        ("web", "store", "e2", "e3"),
        ("store", "mobile_app", "e3", "e4"),
    ]
    assert thread.handoffs[0].gap == timedelta(hours=29.5)
    assert thread.is_continuous_cross_channel


def test_a_silence_longer_than_max_gap_is_a_break_not_a_handoff():
    events = [ix("e1", 0, "Product Viewed", "web"), ix("e2", 24 * 8, "Order Completed", "store")]

    (thread,) = threads(PURCHASE, "c1", events)

    assert (thread.handoffs, thread.breaks) == ((), 1)
    assert not thread.is_continuous_cross_channel
    (within,) = threads(PURCHASE, "c1", events, max_gap=timedelta(days=8))
    assert len(within.handoffs) == 1


def test_events_outside_the_journey_are_not_part_of_its_thread():
    events = [*WISHLIST_STORE_APP, ix("x", 40, "Support Ticket Opened", "call_center")]

    (thread,) = threads(PURCHASE, "c1", events)

    assert "call_center" not in thread.channels


def test_each_service_case_is_its_own_thread():
    events = [
        ix("t1", 0, "Support Ticket Opened", "chat"),
        ix("t2", 1, "Support Ticket Resolved", "call_center"),
        ix("t3", 50, "Support Ticket Opened", "chat"),
    ]

    found = threads(SERVICE, "c1", events)

    assert [(t.cycle, t.channels) for t in found] == [(1, ("chat", "call_center")), (2, ("chat",))]
    assert continuity_rate(found) == 0.5


def test_continuity_rate_is_undefined_without_journeys():
    assert continuity_rate([]) is None


@settings(max_examples=150, deadline=None)
@given(interactions(max_size=14), st.integers(1, 200))
def test_handoffs_equal_a_recount_of_channel_changes_between_consecutive_journey_events(
    items, hours
):
    gap = timedelta(hours=hours)
    found = threads(PURCHASE, "c1", items, max_gap=gap)

    relevant = sorted(
        (i for i in items if PURCHASE.is_relevant(i)), key=lambda i: (i.timestamp, i.id)
    )
    expected = sum(
        1
        for a, b in itertools.pairwise(relevant)
        if a.channel != b.channel and b.timestamp - a.timestamp <= gap
    )
    assert sum(len(t.handoffs) for t in found) == expected  # purchase never restarts: one thread
    assert len(found) == (1 if relevant else 0)
