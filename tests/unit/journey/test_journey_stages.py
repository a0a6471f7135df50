from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain.default_journeys import DEFAULT_CATALOG, PURCHASE, SERVICE
from services.journey.domain.interactions import chronological
from services.journey.domain.stages import (
    Progress,
    StageEntered,
    StageRetracted,
    changes,
    progress,
    progress_in_all,
)
from tests.unit.journey.journey_builders import at, interactions, ix, shuffled_with_duplicates

RETAIL = [
    ix("e1", 0, "Page", "web", kind="page"),
    ix("e2", 1, "Product Added to Wishlist", "web"),
    ix("e3", 30, "Store Visited", "store"),
    ix("e4", 50, "Order Completed", "mobile_app", order_id="o1"),
]


def _stages(found: Progress) -> list[tuple[int, str, str]]:
    return [(visit.cycle, visit.stage, visit.channel) for visit in found.visits]


def test_retail_journey_moves_through_stages_across_channels():
    found = progress(PURCHASE, "c1", RETAIL)

    assert _stages(found) == [
        (1, "awareness", "web"),
        (1, "consideration", "web"),
        (1, "purchase", "mobile_app"),
    ]
    assert found.current is not None
    assert found.current.stage == "purchase"
    assert [visit.left_at for visit in found.visits] == [at(1), at(50), None]
    assert found.time_in_stage(at(60)) == {
        "awareness": timedelta(hours=1),
        "consideration": timedelta(hours=49),
        "purchase": timedelta(hours=10),
    }


def test_interactions_of_an_earlier_stage_do_not_move_the_customer_back():
    events = [*RETAIL, ix("e5", 60, "Product Viewed", "web")]

    assert progress(PURCHASE, "c1", events).current.stage == "purchase"  # type: ignore[union-attr]


def test_later_stage_is_entered_directly_skipping_the_ones_between():
    found = progress(PURCHASE, "c1", [ix("e1", 0, "Order Completed", "store")])

    assert _stages(found) == [(1, "purchase", "store")]


def test_advocacy_needs_a_promoter_answer_not_any_survey():
    detractor = ix("s1", 60, "Survey Answered", survey="nps", score=4)
    promoter = ix("s2", 61, "Survey Answered", survey="nps", score="9")

    assert progress(PURCHASE, "c1", [*RETAIL, detractor]).current.stage == "purchase"  # type: ignore[union-attr]
    assert progress(PURCHASE, "c1", [*RETAIL, promoter]).current.stage == "advocacy"  # type: ignore[union-attr]


def test_new_contact_after_resolution_starts_a_new_service_cycle():
    events = [
        ix("t1", 0, "Support Ticket Opened", "chat"),
        ix("t2", 1, "Support Ticket Opened", "call_center"),  # same case, stays in contact
        ix("t3", 2, "Support Ticket Assigned", "call_center"),
        ix("t4", 5, "Support Ticket Resolved", "call_center"),
        ix("t5", 90, "Support Ticket Opened", "email"),
    ]

    assert _stages(progress(SERVICE, "c1", events)) == [
        (1, "contact", "chat"),
        (1, "diagnosis", "call_center"),
        (1, "resolution", "call_center"),
        (2, "contact", "email"),
    ]


def test_a_contact_during_diagnosis_does_not_restart_the_case():
    events = [
        ix("t1", 0, "Support Ticket Opened", "chat"),
        ix("t2", 1, "Support Ticket Assigned", "chat"),
        ix("t3", 2, "Support Ticket Opened", "call_center"),
    ]

    assert [v.cycle for v in progress(SERVICE, "c1", events).visits] == [1, 1]


def test_several_journeys_at_once_leave_out_journeys_never_entered():
    found = progress_in_all(DEFAULT_CATALOG.current(), "c1", RETAIL)

    assert [p.journey_id for p in found] == ["purchase"]


def test_late_event_lands_in_its_place_and_retracts_what_it_corrects():
    before = progress(PURCHASE, "c1", [RETAIL[0], RETAIL[3]])
    late = ix("e9", 0.5, "Checkout Started", "web")  # happened before the order, arrives after it
    after = progress(PURCHASE, "c1", [RETAIL[0], RETAIL[3], late])

    events = changes(before, after)

    assert _stages(after) == [
        (1, "awareness", "web"),
        (1, "consideration", "web"),
        (1, "purchase", "mobile_app"),
    ]
    assert events == (
        StageEntered("c1", "purchase", 1, after.visits[1], previous_stage="awareness"),
    )


def test_late_event_that_rewrites_the_entering_event_retracts_the_old_visit():
    before = progress(PURCHASE, "c1", [ix("a", 10, "Product Viewed", "web")])
    after = progress(
        PURCHASE,
        "c1",
        [ix("a", 10, "Product Viewed", "web"), ix("b", 5, "Product Viewed", "store")],
    )

    events = changes(before, after)

    assert [type(event) for event in events] == [StageRetracted, StageEntered]
    assert isinstance(events[0], StageRetracted)
    assert events[0].visit.entered_by == "a"
    assert isinstance(events[1], StageEntered)
    assert events[1].visit.entered_by == "b"


def test_recomputing_with_the_same_events_publishes_nothing():
    found = progress(PURCHASE, "c1", RETAIL)

    assert changes(found, progress(PURCHASE, "c1", reversed(RETAIL))) == ()


def test_stage_at_answers_where_the_customer_was_at_a_moment():
    found = progress(PURCHASE, "c1", RETAIL)

    assert found.stage_at(at(-1)) is None
    assert found.stage_at(at(30)).stage == "consideration"  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.data(), interactions(max_size=14))
def test_any_order_with_duplicates_gives_identical_stages_and_history(data, items):
    delivered = data.draw(shuffled_with_duplicates(items))

    for journey in (PURCHASE, SERVICE):
        assert progress(journey, "c1", delivered) == progress(journey, "c1", items)


@settings(max_examples=200, deadline=None)
@given(st.data(), interactions(max_size=14))
def test_batches_in_any_order_converge_on_the_full_history(data, items):
    delivered = data.draw(shuffled_with_duplicates(items))
    cut = data.draw(st.integers(0, len(delivered)))
    first = progress(SERVICE, "c1", delivered[:cut])
    final = progress(SERVICE, "c1", delivered)

    replayed = {v.key for v in first.visits}
    for event in changes(first, final):
        if isinstance(event, StageRetracted):
            replayed.discard(event.visit.key)
        else:
            replayed.add(event.visit.key)

    assert replayed == {v.key for v in progress(SERVICE, "c1", chronological(items)).visits}
