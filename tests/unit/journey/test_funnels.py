from __future__ import annotations

from datetime import timedelta

import pytest

from services.journey.domain.funnels import (
    Exclusion,
    Funnel,
    FunnelError,
    FunnelQuery,
    breakdown,
    by_entry_channel,
    by_first_touch,
    by_segment,
    funnel,
)
from services.journey.domain.interactions import Interaction
from tests.unit.journey.journey_builders import at, ix

DAY = (at(0), at(24))


def _counts(query: FunnelQuery, items: list[Interaction]) -> list[int]:
    return [step.customers for step in funnel(query, items).steps]


def test_segment_names_and_snake_case_names_are_the_same_step():
    items = [ix("1", 1, "Product Viewed"), ix("2", 2, "order_completed")]

    query = FunnelQuery(("product_viewed", "Order Completed"), *DAY)

    assert _counts(query, items) == [1, 1]
    assert [step.name for step in funnel(query, items).steps] == [
        "product_viewed",
        "Order Completed",
    ]


def test_step_k_must_follow_within_the_window_inclusive():
    items = [ix("1", 1, "A"), ix("2", 3, "B")]

    assert _counts(FunnelQuery(("A", "B"), *DAY, timedelta(hours=2)), items) == [1, 1]
    assert _counts(FunnelQuery(("A", "B"), *DAY, timedelta(hours=1)), items) == [1, 0]


def test_steps_at_the_same_instant_are_not_in_order():
    items = [ix("1", 1, "A"), ix("2", 1, "B")]

    assert _counts(FunnelQuery(("A", "B"), *DAY), items) == [1, 0]


def test_step_one_must_start_inside_the_period_but_later_steps_may_fall_after_it():
    items = [ix("1", 23, "A"), ix("2", 30, "B"), ix("3", 24, "A", customer="c2")]

    assert _counts(FunnelQuery(("A", "B"), *DAY), items) == [1, 1]


def test_a_later_start_can_reach_further_when_the_first_one_runs_out_of_time():
    items = [ix("1", 0, "A"), ix("2", 5, "A"), ix("3", 6, "B")]

    result = funnel(FunnelQuery(("A", "B"), *DAY, timedelta(hours=2)), items)

    assert [s.customers for s in result.steps] == [1, 1]
    assert result.times_to_convert == (timedelta(hours=1),)


def test_time_to_convert_is_measured_from_the_earliest_start_that_completes():
    items = [ix("1", 0, "A"), ix("2", 1, "A"), ix("3", 3, "B")]

    result = funnel(FunnelQuery(("A", "B"), *DAY), items)

    assert result.times_to_convert == (timedelta(hours=3),)


def test_drop_off_names_the_customers_who_dropped_at_each_step():
    items = [
        ix("1", 1, "A", customer="c1"),
        ix("2", 2, "B", customer="c1"),
        ix("3", 1, "A", customer="c2"),
        ix("4", 1, "A", customer="c3"),
        ix("5", 2, "B", customer="c3"),
        ix("6", 3, "C", customer="c3"),
    ]

    steps = funnel(FunnelQuery(("A", "B", "C"), *DAY), items).steps

    assert [(s.customers, s.drop_off, s.dropped) for s in steps] == [
        (3, 0, ()),
        (2, 1, ("c2",)),
        (1, 1, ("c1",)),
    ]
    assert [s.conversion_from_previous for s in steps] == [None, 2 / 3, 1 / 2]


def test_strict_mode_needs_each_step_to_be_the_very_next_event():
    items = [ix("1", 1, "A"), ix("2", 2, "Page", kind="page"), ix("3", 3, "B")]

    assert _counts(FunnelQuery(("A", "B"), *DAY, mode="ordered"), items) == [1, 1]
    assert _counts(FunnelQuery(("A", "B"), *DAY, mode="strict"), items) == [1, 0]


def test_strict_mode_ignores_identify_calls_between_steps():
    items = [ix("1", 1, "A"), ix("2", 2, "Identify", kind="identify"), ix("3", 3, "B")]

    assert _counts(FunnelQuery(("A", "B"), *DAY, mode="strict"), items) == [1, 1]


def test_any_order_mode_counts_steps_done_in_any_order_within_the_window():
    items = [ix("1", 1, "C"), ix("2", 2, "B"), ix("3", 3, "A")]

    assert _counts(FunnelQuery(("A", "B", "C"), *DAY), items) == [1, 0, 0]
    assert _counts(FunnelQuery(("A", "B", "C"), *DAY, mode="any_order"), items) == [1, 1, 1]


def test_any_order_needs_a_distinct_event_for_each_repeated_step():
    items = [ix("1", 1, "A"), ix("2", 2, "B")]

    assert _counts(FunnelQuery(("A", "B", "A"), *DAY, mode="any_order"), items) == [1, 1, 0]


def test_exclusion_voids_conversions_with_the_excluded_event_between_its_steps():
    items = [
        ix("1", 1, "Checkout Started", customer="c1"),
        ix("2", 2, "Payment Failed", customer="c1"),
        ix("3", 3, "Order Completed", customer="c1"),
        ix("4", 1, "Checkout Started", customer="c2"),
        ix("5", 3, "Order Completed", customer="c2"),
    ]
    query = FunnelQuery(
        ("Checkout Started", "Order Completed"), *DAY, exclusions=(Exclusion("Payment Failed"),)
    )

    assert funnel(query, items).steps[1].dropped == ("c1",)


def test_exclusion_at_the_instant_of_an_intermediate_step_is_between_its_steps():
    items = [ix("1", 1, "A"), ix("2", 2, "B"), ix("x", 2, "X"), ix("3", 3, "C")]

    at_b = FunnelQuery(("A", "B", "C"), *DAY, exclusions=(Exclusion("X", 1, 3),))
    at_boundary = FunnelQuery(("A", "B", "C"), *DAY, exclusions=(Exclusion("X", 1, 2),))

    assert _counts(at_b, items) == [1, 1, 0]
    assert _counts(at_boundary, items) == [1, 1, 1]


def test_an_exclusion_does_not_touch_the_steps_before_it_ends():
    items = [ix("1", 1, "A"), ix("x", 2, "X"), ix("2", 3, "B")]

    query = FunnelQuery(("A", "B", "C"), *DAY, exclusions=(Exclusion("X", 1, 3),))

    assert _counts(query, items) == [1, 1, 0]


def test_breakdowns_by_entry_channel_first_touch_and_segment():
    items = [
        ix("0", 0, "Page", "email", customer="c1", kind="page"),
        ix("1", 1, "A", "web", customer="c1"),
        ix("2", 2, "B", "store", customer="c1"),
        ix("3", 1, "A", "mobile_app", customer="c2"),
    ]
    query = FunnelQuery(("A", "B"), *DAY)

    def counts(groups: dict[str, Funnel]) -> dict[str, list[int]]:
        return {label: [s.customers for s in f.steps] for label, f in groups.items()}

    assert counts(breakdown(query, items, by_entry_channel(query))) == {
        "mobile_app": [1, 0],
        "web": [1, 1],
    }
    assert counts(breakdown(query, items, by_first_touch)) == {
        "email": [1, 1],
        "mobile_app": [1, 0],
    }
    assert counts(breakdown(query, items, by_segment({"c1": ["vip", "eu"]}))) == {
        "eu": [1, 1],
        "none": [1, 0],
        "vip": [1, 1],
    }


def test_time_to_convert_distribution_percentiles():
    items = [
        ix(f"{c}{n}", hour, name, customer=f"c{c}")
        for c, hours in enumerate((1, 2, 3, 10))
        for n, (hour, name) in enumerate(((0, "A"), (hours, "B")))
    ]

    result = funnel(FunnelQuery(("A", "B"), *DAY), items)

    assert result.time_to_convert(50) == timedelta(hours=2)
    assert result.time_to_convert(90) == timedelta(hours=10)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"steps": ()}, "`steps` is empty"),
        ({"end": at(0)}, "must be before `to`"),
        ({"within": timedelta(hours=-1)}, "`withinHours` must be zero or more"),
        ({"steps": ("A", "???")}, "step 2"),
        ({"mode": "any_order", "exclusions": (Exclusion("X"),)}, "use mode ordered or strict"),
        ({"exclusions": (Exclusion("X", 2, 2),)}, "after_step < before_step"),
    ],
)
def test_malformed_funnel_queries_say_what_to_fix(arguments, message):
    base = {"steps": ("A", "B"), "start": at(0), "end": at(24)}

    with pytest.raises(FunnelError, match=message):
        FunnelQuery(**{**base, **arguments})
