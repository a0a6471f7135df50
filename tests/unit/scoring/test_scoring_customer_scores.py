"""A customer's scores: latest answers, IES and CPI with explanations, CLV from their orders."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.scoring.domain.clv import BgNbdParameters, GammaGammaParameters, fit_clv
from services.scoring.domain.clv_simulation import simulate
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.customer_scores import customer_scores, purchases_from
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyKind, SurveyScore

RATES = ExchangeRates("USD", {"EUR": Decimal("1.2")})
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture(scope="module")
def clv_model():
    base = simulate(
        BgNbdParameters(0.5, 5.0, 1.2, 3.0), GammaGammaParameters(5, 4, 60), customers=3000, seed=3
    )
    return fit_clv(base.summaries, as_of=AS_OF, fitted_at=AS_OF)


def order(event_id: str, order_id: str, weeks_ago: float, amount: str, currency: str = "USD"):
    return KpiEvent(
        event_id,
        "c1",
        "web",
        AS_OF - weeks_ago * WEEK,
        order=Order(order_id, Decimal(amount), currency),
    )


def answer(event_id: str, kind: SurveyKind, score: int, weeks_ago: float) -> KpiEvent:
    at = AS_OF - weeks_ago * WEEK
    return KpiEvent(event_id, "c1", "email", at, survey=SurveyScore(kind, score))


def test_orders_become_purchases_once_each_at_their_earliest_event_in_the_reporting_currency():
    events = [
        order("e1", "o1", 10, "10", "EUR"),
        order("e2", "o1", 9, "10", "EUR"),
        order("e3", "o2", 2, "5"),
    ]

    purchases = purchases_from("c1", events, RATES)

    assert [(p.at, p.amount) for p in purchases] == [
        (AS_OF - 10 * WEEK, 12.0),
        (AS_OF - 2 * WEEK, 5.0),
    ]


def test_scores_carry_latest_answers_clv_and_explanations_that_add_up(clv_model):
    events = [
        order("e1", "o1", 30, "40"),
        order("e2", "o2", 20, "50"),
        order("e3", "o3", 2, "60"),
        answer("s1", "nps", 3, 10),
        answer("s2", "nps", 10, 1),
        answer("s3", "csat", 5, 1),
        answer("s4", "ces", 2, 1),
    ]

    scores = customer_scores("c1", events, rates=RATES, as_of=AS_OF, clv_model=clv_model)

    assert (scores.nps, scores.csat, scores.ces) == (10, 5, 2)
    assert scores.clv is not None
    assert 0 < scores.clv.p_alive <= 1
    assert scores.clv.clv == pytest.approx(
        scores.clv.expected_purchases * scores.clv.expected_spend
    )
    for answer_ in (scores.ies, scores.cpi):
        assert answer_.score is not None
        assert math.fsum(p.contribution for p in answer_.components) == pytest.approx(answer_.score)
    ies_parts = {e.component.kpi: e.component for e in scores.explanations if e.model == "ies"}
    assert ies_parts["nps"].value == 0.0  # one promoter, one detractor
    cpi_parts = {e.component.kpi for e in scores.explanations if e.model == "cpi"}
    assert cpi_parts == {"p_alive", "expected_purchases", "clv", "ies"}


def test_a_customer_without_orders_has_no_clv_and_their_cpi_says_what_is_missing(clv_model):
    scores = customer_scores(
        "c1", [answer("s1", "csat", 4, 1)], rates=RATES, as_of=AS_OF, clv_model=clv_model
    )

    assert scores.clv is None
    assert scores.cpi.missing == ("p_alive", "expected_purchases", "clv")
    assert scores.cpi.score == scores.ies.score == 100.0
