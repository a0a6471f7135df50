"""IES and CPI: versioned weighted models whose explanations add up to the score."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.composite import (
    CPI_V1,
    IES_V1,
    Component,
    CompositeModelError,
    LinearScale,
    model,
    score,
)

values = st.floats(-1000, 1000, allow_nan=False) | st.none()


@st.composite
def models(draw: st.DrawFn):
    size = draw(st.integers(1, 6))
    raw = draw(st.lists(st.floats(0.01, 10), min_size=size, max_size=size))
    components = []
    for index, weight in enumerate(raw):
        low = draw(st.floats(-100, 100))
        span = draw(st.floats(0.5, 200))
        components.append(
            Component(
                f"k{index}",
                weight / math.fsum(raw),
                LinearScale(low, low + span, draw(st.booleans())),
            )
        )
    try:
        return model("test", "t-1", components)
    except CompositeModelError:  # rounding left the weights a hair off 1
        return IES_V1


@given(chosen=models(), data=st.data())
def test_contributions_add_up_to_the_score_which_stays_within_0_to_100(chosen, data):
    kpis = {c.kpi: data.draw(values) for c in chosen.components}

    answer = score(chosen, kpis)

    assert answer.version == chosen.version
    if answer.score is None:
        assert set(answer.missing) == {c.kpi for c in chosen.components}
        return
    assert math.fsum(part.contribution for part in answer.components) == pytest.approx(
        answer.score, abs=1e-9
    )
    assert math.fsum(part.weight for part in answer.components) == pytest.approx(1)
    assert -1e-9 <= answer.score <= 100 + 1e-9
    assert {p.kpi for p in answer.components} | set(answer.missing) == {
        c.kpi for c in chosen.components
    }


@given(
    nps=st.floats(-100, 100), better=st.floats(0, 50), csat=st.floats(0, 100), ces=st.floats(1, 7)
)
def test_a_better_kpi_never_lowers_the_ies(nps, better, csat, ces):
    base = {"nps": nps, "csat": csat, "ces": ces}
    worse_ces = {**base, "ces": min(7.0, ces + 1)}

    def ies(kpis: dict[str, float]) -> float:
        value = score(IES_V1, kpis).score
        assert value is not None
        return value

    assert ies({**base, "nps": nps + better}) >= ies(base)
    assert ies(worse_ces) <= ies(base)


def test_ies_explains_each_component_with_its_rule_and_the_model_version():
    answer = score(
        IES_V1,
        {"nps": 40.0, "csat": 80.0, "ces": 2.5, "first_contact_resolution": 0.7,
         "avg_resolution_hours": 36.0},
    )  # fmt: skip

    parts = {p.kpi: p for p in answer.components}
    assert parts["nps"].normalized == 70.0
    assert parts["ces"].normalized == 75.0
    assert parts["ces"].rule == "linear: 7 → 0, 1 → 100, clipped outside"
    assert parts["avg_resolution_hours"].normalized == 50.0
    assert answer.score == pytest.approx(0.3 * 70 + 0.25 * 80 + 0.2 * 75 + 0.15 * 70 + 0.1 * 50)
    assert (answer.model, answer.version, answer.missing) == ("ies", "ies-1", ())


def test_unknown_kpis_are_listed_and_their_weight_shared_by_the_known_ones():
    answer = score(CPI_V1, {"p_alive": 0.5, "clv": 250.0, "expected_purchases": None})

    assert answer.missing == ("expected_purchases", "ies")
    assert [p.weight for p in answer.components] == [0.5, 0.5]
    assert answer.score == pytest.approx(0.5 * 50 + 0.5 * 25)


def test_weights_that_do_not_add_up_to_one_are_refused_with_the_fix():
    with pytest.raises(
        CompositeModelError, match=re.escape("weights sum to 1.5, not 1; scale them")
    ):
        model(
            "ies",
            "x",
            [Component("nps", 0.5, LinearScale(0, 1)), Component("csat", 1.0, LinearScale(0, 1))],
        )
