from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain import ScoringError
from services.scoring.domain.customer_orders import OrderTotals
from services.scoring.domain.explain import explanations
from services.scoring.domain.metrics import (
    APPLIED_MEMORY,
    CustomerMetrics,
    ScoredEvent,
    apply_events,
)
from shared.events import CloudEvent
from tests.support.resolved_events import at, resolved


def scored(event: CloudEvent) -> ScoredEvent:
    return ScoredEvent.from_data(event.id, event.data)


def order(message_id: str, revenue: Any, currency: str, channel: str = "web") -> ScoredEvent:
    return scored(
        resolved(
            "track",
            message_id,
            "c1",
            event="Order Completed",
            properties={"order_id": message_id, "revenue": revenue, "currency": currency},
            context={"channel": channel},
            timestamp=at(10),
        )
    )


def survey(message_id: str, kind: str, score: Any, hour: int) -> ScoredEvent:
    return scored(
        resolved(
            "track",
            message_id,
            "c1",
            event="Survey Answered",
            properties={"survey": kind, "score": score},
            timestamp=at(hour),
        )
    )


def test_orders_count_and_revenue_add_up_per_currency_in_decimals():
    events = [order("o1", "10.10", "EUR"), order("o2", 0.2, "EUR"), order("o3", 5, "GBP")]

    metrics = apply_events(CustomerMetrics("c1"), events)

    assert metrics.orders == 3
    assert metrics.revenue == {"EUR": Decimal("10.30"), "GBP": Decimal("5")}


def test_events_are_counted_per_channel():
    events = [order("o1", 1, "EUR", "store"), order("o2", 1, "EUR", "web")]
    events.append(scored(resolved("page", "p1", "c1", context={"channel": "web"})))

    metrics = apply_events(CustomerMetrics("c1"), events)

    assert metrics.events_by_channel == {"store": 1, "web": 2}
    assert metrics.events == 3


def test_latest_survey_answer_by_event_time_wins_even_when_it_arrived_first():
    newer, older = survey("s1", "nps", 9, hour=11), survey("s2", "nps", 3, hour=8)

    metrics = apply_events(CustomerMetrics("c1"), [newer, older])

    assert metrics.surveys["nps"].score == Decimal(9)


def test_each_survey_kind_is_kept_separately():
    metrics = apply_events(
        CustomerMetrics("c1"),
        [survey("s1", "NPS", 7, 9), survey("s2", "csat", 4.5, 9), survey("s3", "ces", "2", 9)],
    )

    assert {k: v.score for k, v in metrics.surveys.items()} == {
        "nps": Decimal(7),
        "csat": Decimal("4.5"),
        "ces": Decimal(2),
    }


@pytest.mark.parametrize(
    "properties",
    [{"survey": "mood", "score": 3}, {"survey": "nps"}, {"survey": "nps", "score": True}],
)
def test_survey_answers_without_a_known_survey_or_score_are_only_counted(properties):
    event = scored(resolved("track", "s1", "c1", event="Survey Answered", properties=properties))

    metrics = apply_events(CustomerMetrics("c1"), [event])

    assert metrics.surveys == {}
    assert metrics.events == 1


def test_an_event_already_applied_changes_nothing():
    event = order("o1", "10", "EUR")
    once = apply_events(CustomerMetrics("c1"), [event])

    assert apply_events(once, [event]) is once
    assert apply_events(CustomerMetrics("c1"), [event, event]).orders == 1


def test_applied_ids_are_bounded():
    events = [order(f"o{i}", 1, "EUR") for i in range(APPLIED_MEMORY + 5)]

    metrics = apply_events(CustomerMetrics("c1"), events)

    assert len(metrics.applied) == APPLIED_MEMORY
    assert metrics.orders == APPLIED_MEMORY + 5


def test_events_of_another_customer_are_refused():
    other = scored(resolved("page", "p1", "c2"))

    with pytest.raises(ScoringError, match="c2"):
        apply_events(CustomerMetrics("c1"), [other])


def test_explanations_describe_only_computed_values():
    metrics = apply_events(
        CustomerMetrics("c1"), [order("o1", "12.50", "EUR"), survey("s1", "nps", 9, 10)]
    )

    # Orders and revenue are counted from the KPI facts (domain/customer_orders.py).
    bought = OrderTotals(1, {"EUR": Decimal("12.50")})

    assert explanations(metrics, bought) == [
        "2 events observed (other 1, web 1).",
        "1 orders completed, revenue 12.50 EUR.",
        "Latest NPS answer 9 given 2026-03-01.",
    ]
    assert explanations(CustomerMetrics("c1"), OrderTotals()) == []


event_pool = [
    order(f"o{i}", f"{i}.25", cur, ch)
    for i, (cur, ch) in enumerate(
        [("EUR", "web"), ("GBP", "store"), ("EUR", "store"), ("USD", "web")]
    )
]
event_pool += [survey(f"s{i}", kind, i, hour) for i, (kind, hour) in
               enumerate([("nps", 9), ("nps", 11), ("csat", 10), ("nps", 11)])]  # fmt: skip


@given(st.lists(st.sampled_from(event_pool), max_size=12), st.randoms())
def test_metrics_depend_on_the_set_of_events_not_their_order_or_duplicates(events, random):
    shuffled = list(events) + list(events[:3])
    random.shuffle(shuffled)

    one = apply_events(CustomerMetrics("c1"), events)
    other = apply_events(CustomerMetrics("c1"), shuffled)

    assert (one.events_by_channel, one.orders, one.revenue, one.surveys) == (
        other.events_by_channel,
        other.orders,
        other.revenue,
        other.surveys,
    )
    assert one.orders == len({e.id for e in events if e.order is not None})
