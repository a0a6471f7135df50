"""Threshold crossings: announced once when a side changes, never while it holds."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.crossings import ScoreState, Threshold, crossings, side_of

NPS = Threshold("nps", 6.0, "above")
CHURN = Threshold("churnRisk", 0.7, "below")


def test_a_first_detractor_answer_is_a_crossing_and_a_second_one_is_not():
    first, states = crossings((NPS,), {}, {"nps": 3.0})
    again, _ = crossings((NPS,), states, {"nps": 5.0})

    assert [(c.direction, c.value, c.previous) for c in first] == [("below", 3.0, None)]
    assert again == []


def test_a_first_promoter_answer_or_a_low_churn_risk_is_no_crossing():
    found, states = crossings((NPS, CHURN), {}, {"nps": 9.0, "churnRisk": 0.2})

    assert found == []
    assert states == {"nps": ScoreState("above", 9.0), "churnRisk": ScoreState("below", 0.2)}


@given(st.lists(st.floats(0, 1), max_size=30))
def test_crossings_are_exactly_the_changes_of_side_along_any_sequence(values):
    states: dict[str, ScoreState] = {}
    announced = []
    for value in values:
        found, changed = crossings((CHURN,), states, {"churnRisk": value})
        states.update(changed)
        announced += [c.direction for c in found]

    sides = ["below"] + [side_of(v, 0.7) for v in values]
    expected = [b for a, b in pairwise(sides) if a != b]
    assert announced == expected
