"""The re-scoring pass's churn risks: a whole batch at once, each equal to what the customer's
own scores (``customer_scores_of``, what ``Customer.scores`` serves) give at the same moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.config import ScoringConfig
from services.scoring.domain.clv import BgNbdParameters, GammaGammaParameters, fit_clv
from services.scoring.domain.clv_simulation import simulate
from services.scoring.domain.composite import CPI_V1, IES_V1
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore
from services.scoring.domain.rescoring import churn_risks
from services.scoring.handlers.scores import customer_scores_of

RATES = ExchangeRates("USD", {"EUR": Decimal("1.2")})
FIT_AT = datetime(2026, 6, 1, tzinfo=UTC)
MODEL = fit_clv(
    simulate(
        BgNbdParameters(0.5, 5.0, 1.2, 3.0), GammaGammaParameters(5, 4, 60), customers=2000, seed=5
    ).summaries,
    as_of=FIT_AT,
    fitted_at=FIT_AT,
)

event = st.tuples(
    st.integers(0, 400),  # days after the start
    st.sampled_from(["USD", "EUR", "GBP", ""]),  # GBP has no rate: an order without revenue
    st.integers(0, 3),  # order id among a few: replays of one order
    st.booleans(),  # an order, or a survey answer
)


def history(customer: str, rows: list[tuple[int, str, int, bool]]) -> list[KpiEvent]:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    return [
        KpiEvent(
            f"{customer}-{n}",
            customer,
            "web",
            start + timedelta(days=day, hours=n % 24),
            order=Order(f"{customer}-o{oid}", Decimal(25), currency) if is_order else None,
            survey=None if is_order else SurveyScore("nps", 7),
        )
        for n, (day, currency, oid, is_order) in enumerate(rows)
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(event, max_size=12), min_size=1, max_size=6),
    st.integers(0, 500),
)
def test_each_churn_risk_equals_the_customers_own_scores_at_that_moment(rows, days):
    as_of = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(days=days)
    histories = {f"c{i}": history(f"c{i}", mine) for i, mine in enumerate(rows)}

    risks = churn_risks(MODEL, histories, rates=RATES, as_of=as_of)

    expected = {}
    for customer, events in histories.items():
        scores = customer_scores_of(
            customer,
            [Fact(e) for e in events],
            config=ScoringConfig(rates=RATES),
            as_of=as_of,
            models=(MODEL, IES_V1, CPI_V1),
        )
        if scores.clv is not None:
            expected[customer] = scores.clv.churn_risk
    assert risks.keys() == expected.keys()
    for customer, risk in risks.items():
        assert risk == pytest.approx(expected[customer], abs=1e-12)


def test_a_customer_without_an_order_by_then_has_no_churn_risk():
    later = KpiEvent("e1", "c1", "web", FIT_AT, order=Order("o1", Decimal(5), "USD"))

    assert churn_risks(MODEL, {"c1": [later]}, rates=RATES, as_of=FIT_AT - timedelta(days=1)) == {}
    assert churn_risks(MODEL, {}, rates=RATES, as_of=FIT_AT) == {}
