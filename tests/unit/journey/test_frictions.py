"""Each detector fires on its scenario and stays silent on the near miss next to it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.journey.domain import JourneyError
from services.journey.domain.default_journeys import PURCHASE, SERVICE
from services.journey.domain.friction_detectors import (
    ABANDONED_CHECKOUT,
    BROKEN_PROMISE,
    CHANNEL_PING_PONG,
    NEGATIVE_SURVEY,
    PAYMENT_FAILURE,
    REPEATED_CONTACTS,
    STALLED_STAGE,
    detect,
)
from services.journey.domain.frictions import Friction, FrictionSettings, pain_point_map
from services.journey.domain.interactions import Interaction
from services.journey.domain.stages import progress
from tests.unit.journey.journey_builders import at, ix

LATER = at(24 * 60)


def _found(items: list[Interaction], kind: str, now=LATER, **options) -> list[Friction]:
    return [f for f in detect(items, now, **options) if f.kind == kind]


def test_two_support_contacts_within_seven_days_are_repeated_contacts():
    items = [
        ix("c1", 0, "Support Ticket Opened", "chat"),
        ix("c2", 24 * 7, "Support Contacted", "call_center"),
    ]

    (found,) = _found(items, REPEATED_CONTACTS)

    assert found.evidence == ("c1", "c2")
    assert (found.detected_at, found.channel) == (at(24 * 7), "call_center")


def test_two_contacts_a_minute_more_than_seven_days_apart_are_not():
    items = [
        ix("c1", 0, "Support Ticket Opened", "chat"),
        ix("c2", 24 * 7 + 1 / 60, "Support Contacted", "call_center"),
    ]

    assert _found(items, REPEATED_CONTACTS) == []


def test_a_burst_of_contacts_is_one_friction_not_one_per_contact():
    items = [ix(f"c{n}", n, "Support Contacted", "call_center") for n in range(4)]

    (found,) = _found(items, REPEATED_CONTACTS)

    assert found.evidence == ("c0", "c1", "c2", "c3")


def test_repeated_contacts_threshold_is_configurable():
    items = [ix(f"c{n}", n, "Support Contacted", "call_center") for n in range(2)]

    assert _found(items, REPEATED_CONTACTS, settings=FrictionSettings(repeat_contacts=3)) == []


def test_checkout_without_an_order_within_a_day_is_abandoned():
    items = [
        ix("k1", 0, "Checkout Started", order_id="o1"),
        ix("o", 25, "Order Completed", order_id="o1"),
    ]

    (found,) = _found(items, ABANDONED_CHECKOUT)

    assert (found.evidence, found.detected_at) == (("k1",), at(24))


def test_checkout_completed_just_within_a_day_is_not_abandoned():
    items = [
        ix("k1", 0, "Checkout Started", order_id="o1"),
        ix("o", 24, "Order Completed", order_id="o1"),
    ]

    assert _found(items, ABANDONED_CHECKOUT) == []


def test_checkout_is_not_abandoned_before_its_deadline_has_passed():
    items = [ix("k1", 0, "Checkout Started")]

    assert _found(items, ABANDONED_CHECKOUT, now=at(24)) == []
    assert len(_found(items, ABANDONED_CHECKOUT, now=at(24.01))) == 1


def test_an_order_for_another_order_id_does_not_complete_a_checkout():
    items = [
        ix("k1", 0, "Checkout Started", order_id="o1"),
        ix("o", 1, "Order Completed", order_id="o2"),
    ]

    assert len(_found(items, ABANDONED_CHECKOUT)) == 1


def test_retried_checkouts_then_abandonment_is_one_friction_with_every_try():
    items = [ix("k1", 0, "Checkout Started"), ix("k2", 2, "Checkout Started")]

    (found,) = _found(items, ABANDONED_CHECKOUT)

    assert (found.evidence, found.detected_at) == (("k1", "k2"), at(26))


def test_a_failed_payment_is_a_friction_and_a_successful_one_is_not():
    items = [
        ix("p1", 0, "Payment Info Entered", "mobile_app", status="declined"),
        ix("p2", 1, "Payment Info Entered", "mobile_app", status="succeeded"),
        ix("p3", 2, "Payment Failed", "web"),
    ]

    assert [f.evidence for f in _found(items, PAYMENT_FAILURE)] == [("p1",), ("p3",)]


def test_a_stage_held_longer_than_its_p90_has_stalled():
    items = [ix("e1", 0, "Product Viewed", "web")]
    p90 = {("purchase", "consideration"): timedelta(hours=48)}
    found = [progress(PURCHASE, "c1", items)]

    (stalled,) = _found(items, STALLED_STAGE, now=at(49), progresses=found, stage_p90=p90)

    assert (stalled.stage, stalled.detected_at, stalled.evidence) == (
        "consideration",
        at(48),
        ("e1",),
    )
    assert _found(items, STALLED_STAGE, now=at(48), progresses=found, stage_p90=p90) == []


def test_bouncing_back_and_forth_between_channels_is_ping_pong():
    items = [
        ix("1", 0, "Support Contacted", "call_center"),
        ix("2", 1, "Support Contacted", "store"),
        ix("3", 2, "Support Contacted", "call_center"),
        ix("4", 3, "Support Contacted", "store"),
    ]

    (found,) = _found(items, CHANNEL_PING_PONG)

    assert found.evidence == ("1", "2", "3", "4")


def test_moving_on_through_channels_or_one_return_is_not_ping_pong():
    onward = [
        ix("1", 0, "Support Contacted", "call_center"),
        ix("2", 1, "Support Contacted", "store"),
        ix("3", 2, "Support Contacted", "chat"),
        ix("4", 3, "Support Contacted", "email"),
    ]
    once = [*onward[:2], ix("3", 2, "Support Contacted", "call_center")]
    too_slow = [*once, ix("4", 49, "Support Contacted", "store")]

    assert _found(onward, CHANNEL_PING_PONG) == []
    assert _found(once, CHANNEL_PING_PONG) == []
    assert _found(too_slow, CHANNEL_PING_PONG) == []


def test_a_detractor_answer_right_after_a_touchpoint_blames_the_touchpoint():
    items = [
        ix("call", 0, "Support Ticket Resolved", "call_center"),
        ix("nps", 2, "Survey Answered", "email", survey="nps", score=3),
    ]

    (found,) = _found(items, NEGATIVE_SURVEY)

    assert (found.evidence, found.channel) == (("call", "nps"), "call_center")


def test_a_passive_answer_or_a_detractor_long_after_any_touchpoint_is_not_blamed():
    passive = [
        ix("call", 0, "Support Ticket Resolved", "call_center"),
        ix("nps", 2, "Survey Answered", "email", survey="nps", score=7),
    ]
    late = [
        ix("call", 0, "Support Ticket Resolved", "call_center"),
        ix("nps", 25, "Survey Answered", "email", survey="nps", score=3),
    ]

    assert _found(passive, NEGATIVE_SURVEY) == []
    assert _found(late, NEGATIVE_SURVEY) == []


def test_delivery_after_the_promised_day_is_a_broken_promise():
    items = [
        ix("o", 0, "Order Completed", order_id="o1", promised_delivery_date="2026-03-03"),
        ix("d", 24 * 3 + 1, "Order Delivered", "store", order_id="o1"),
    ]

    (found,) = _found(items, BROKEN_PROMISE)

    assert found.evidence == ("o", "d")


def test_delivery_late_on_the_promised_day_keeps_the_promise():
    items = [
        ix("o", 0, "Order Completed", order_id="o1", promised_delivery_date="2026-03-03"),
        ix("d", 24 * 3 - 0.01, "Order Delivered", order_id="o1"),
    ]

    assert _found(items, BROKEN_PROMISE) == []


def test_no_delivery_by_a_promised_instant_breaks_the_promise_once_it_passes():
    items = [
        ix("o", 0, "Order Shipped", order_id="o1", promised_delivery_date="2026-03-02T12:00:00Z")
    ]

    assert _found(items, BROKEN_PROMISE, now=at(36)) == []
    assert [f.evidence for f in _found(items, BROKEN_PROMISE, now=at(37))] == [("o",)]


def test_friction_ids_survive_redetection_after_more_evidence_arrives():
    first = detect(
        [ix("o", 0, "Order Shipped", order_id="o1", promised_delivery_date="2026-03-02")], LATER
    )
    again = detect(
        [
            ix("o", 0, "Order Shipped", order_id="o1", promised_delivery_date="2026-03-02"),
            ix("d", 24 * 5, "Order Delivered", order_id="o1"),
        ],
        LATER,
    )

    assert [f.id for f in first] == [f.id for f in again]


def test_pain_point_map_counts_frictions_by_stage_and_channel():
    items = [
        ix("t1", 0, "Support Ticket Opened", "chat"),
        ix("t2", 1, "Support Ticket Assigned", "call_center"),
        ix("t3", 2, "Support Contacted", "call_center"),
        ix("p", 3, "Payment Failed", "web", customer="c2"),
    ]
    service = {"c1": progress(SERVICE, "c1", items[:3])}
    frictions = [*detect(items[:3], LATER), *detect(items[3:], LATER)]

    found = pain_point_map(frictions, service)

    assert [(p.stage, p.channel, p.kind, p.count) for p in found] == [
        ("diagnosis", "call_center", REPEATED_CONTACTS, 1),
        ("none", "web", PAYMENT_FAILURE, 1),
    ]


def test_detection_refuses_to_mix_customers():
    items = [
        ix("1", 0, "Payment Failed", customer="c1"),
        ix("2", 0, "Payment Failed", customer="c2"),
    ]

    with pytest.raises(JourneyError, match="one customer at a time"):
        detect(items, LATER)


def test_two_negative_answers_after_one_touchpoint_are_two_frictions():
    items = [
        ix("call", 0, "Support Ticket Resolved", "call_center"),
        ix("nps", 1, "Survey Answered", "email", survey="nps", score=2),
        ix("csat", 1.5, "Survey Answered", "email", survey="csat", score=1),
    ]

    found = _found(items, NEGATIVE_SURVEY)

    assert [f.evidence for f in found] == [("call", "nps"), ("call", "csat")]
    assert len({f.id for f in found}) == 2


def test_one_event_stalling_two_journeys_is_two_frictions():
    answer = ix("s", 0, "Survey Answered", survey="nps", score=10)
    found = [progress(PURCHASE, "c1", [answer]), progress(SERVICE, "c1", [answer])]
    p90 = {
        ("purchase", "advocacy"): timedelta(hours=1),
        ("service", "follow_up"): timedelta(hours=1),
    }

    stalled = _found([answer], STALLED_STAGE, now=at(2), progresses=found, stage_p90=p90)

    assert [(f.journey_id, f.stage) for f in stalled] == [
        ("purchase", "advocacy"),
        ("service", "follow_up"),
    ]
    assert len({f.id for f in stalled}) == 2
