from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain import JourneyError
from services.journey.domain.default_journeys import PURCHASE, SERVICE
from services.journey.domain.friction_detectors import REPEATED_CONTACTS, detect
from services.journey.domain.interactions import Interaction
from services.journey.domain.stages import progress
from services.journey.domain.triggers import (
    CustomerState,
    EntersStage,
    FrictionDetected,
    InactiveInStage,
    Trigger,
    evaluate,
)
from tests.unit.journey.journey_builders import at, interactions, ix

CHECKOUT_NUDGE = Trigger("nudge", InactiveInStage("purchase", "consideration", timedelta(days=2)))
WELCOME = Trigger("welcome", EntersStage("purchase", "purchase"))
ESCALATE = Trigger("escalate", FrictionDetected(REPEATED_CONTACTS))
RULES = (CHECKOUT_NUDGE, WELCOME, ESCALATE)


def _state(items: list[Interaction], now=at(24 * 30)) -> CustomerState:
    progresses = [progress(PURCHASE, "c1", items), progress(SERVICE, "c1", items)]
    return CustomerState.of("c1", progresses, detect(items, now), items)


def test_entering_a_stage_fires_once():
    state = _state([ix("e1", 0, "Order Completed", "store")])

    (first,) = evaluate([WELCOME], state, at(1))

    assert (first.trigger_id, first.at, first.evidence) == ("welcome", at(0), ("e1",))
    assert evaluate([WELCOME], state, at(2), fired={first.occurrence}) == ()


def test_a_detected_friction_fires_its_trigger_once():
    items = [
        ix("c1", 0, "Support Contacted", "chat"),
        ix("c2", 3, "Support Contacted", "call_center"),
    ]

    (fired,) = evaluate([ESCALATE], _state(items), at(4))

    assert fired.evidence == ("c1", "c2")
    assert evaluate([ESCALATE], _state(items), at(5), fired={fired.occurrence}) == ()


def test_inactivity_fires_after_the_duration_not_a_second_before():
    state = _state([ix("e1", 0, "Product Viewed")])

    assert evaluate([CHECKOUT_NUDGE], state, at(48) - timedelta(seconds=1)) == ()
    (fired,) = evaluate([CHECKOUT_NUDGE], state, at(48))
    assert fired.at == at(48)


def test_new_activity_rearms_inactivity_as_a_new_occurrence():
    quiet = _state([ix("e1", 0, "Product Viewed")])
    (first,) = evaluate([CHECKOUT_NUDGE], quiet, at(48))
    active = _state([ix("e1", 0, "Product Viewed"), ix("p", 60, "Page", kind="page")])

    assert evaluate([CHECKOUT_NUDGE], active, at(100), fired={first.occurrence}) == ()
    (second,) = evaluate([CHECKOUT_NUDGE], active, at(108), fired={first.occurrence})
    assert second.occurrence != first.occurrence


def test_inactivity_does_not_fire_once_the_customer_left_the_stage():
    state = _state([ix("e1", 0, "Product Viewed"), ix("o", 1, "Order Completed")])

    assert evaluate([CHECKOUT_NUDGE], state, at(100)) == ()


def test_occurrences_before_a_rule_existed_do_not_fire():
    state = _state([ix("e1", 0, "Order Completed")])
    late_rule = Trigger("welcome", EntersStage("purchase", "purchase"), not_before=at(1))

    assert evaluate([late_rule], state, at(2)) == ()


def test_inactivity_needs_a_positive_duration():
    with pytest.raises(JourneyError, match="needs a positive duration"):
        InactiveInStage("purchase", "consideration", timedelta(0))


@settings(max_examples=100, deadline=None)
@given(interactions(max_size=12), st.lists(st.integers(0, 24 * 30), min_size=1, max_size=6))
def test_evaluating_again_and_again_fires_each_occurrence_exactly_once(items, hours):
    state = _state(items)
    fired: list[str] = []
    for hour in sorted(hours):
        fired.extend(t.occurrence for t in evaluate(RULES, state, at(hour), fired=set(fired)))

    assert len(fired) == len(set(fired))
    assert set(fired) == {t.occurrence for t in evaluate(RULES, state, at(max(hours)))}
