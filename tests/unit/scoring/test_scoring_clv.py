"""BG/NBD + Gamma-Gamma: published CDNOW estimates, parameter recovery, closed forms."""

from __future__ import annotations

import csv
import importlib.metadata
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from services.scoring.domain.clv import (
    BgNbdParameters,
    ClvFitError,
    GammaGammaParameters,
    bg_nbd_log_likelihood,
    expected_purchases,
    fit_clv,
    p_alive,
    score_customers,
)
from services.scoring.domain.clv_simulation import simulate
from services.scoring.domain.rfm import Purchase, RfmError, RfmSummary, summarize

CALIBRATION_END = datetime(1997, 9, 30, tzinfo=UTC)
FITTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def cdnow_file(name: str) -> Path:
    """A data file the `lifetimes` package ships, read without importing the package."""
    files = importlib.metadata.files("lifetimes") or []
    for file in files:
        if file.name == name:
            return Path(str(file.locate()))
    raise FileNotFoundError(f"lifetimes does not ship {name}; pip install 'lifetimes>=0.11'")


def published_summaries() -> list[RfmSummary]:
    with cdnow_file("cdnow_customers_summary_with_transactions.csv").open() as handle:
        return [
            RfmSummary(
                row["ID"], int(row["x"]), float(row["t_x"]), float(row["T"]), float(row["zbar"])
            )
            for row in csv.DictReader(handle)
        ]


def cdnow_purchases() -> list[Purchase]:
    purchases = []
    with cdnow_file("CDNOW_sample.txt").open() as handle:
        for line in handle:
            _, customer, day, _, dollars = line.split()
            at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
            purchases.append(Purchase(str(int(customer)), at, float(dollars)))
    return purchases


def test_cdnow_fit_matches_the_published_bg_nbd_and_gamma_gamma_estimates():
    model = fit_clv(published_summaries(), as_of=CALIBRATION_END, fitted_at=FITTED_AT)

    bg = model.purchases
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4.
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), rel=2e-3)
    assert model.purchase_fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    # Gamma-Gamma on the 946 repeat buyers: p=6.25, q=3.74, gamma=15.44.
    gg = model.spend
    assert (gg.p, gg.q, gg.gamma) == pytest.approx((6.25, 3.74, 15.44), rel=2e-3)
    assert model.spend_fit.customers == 946
    assert model.customers == 2357
    assert model.purchase_fit.converged
    assert model.time_unit == "week"


def test_cdnow_raw_transactions_summarize_to_the_published_calibration_summary():
    published = {s.customer_id: s for s in published_summaries()}

    ours = summarize(cdnow_purchases(), as_of=CALIBRATION_END)

    assert len(ours) == len(published) == 2357
    for summary in ours:
        expected = published[summary.customer_id]
        assert summary.frequency == expected.frequency
        assert round(summary.recency, 2) == expected.recency
        assert round(summary.age, 2) == expected.age
        assert summary.monetary == pytest.approx(
            expected.monetary, abs=0.0051
        )  # published rounded to cents


def test_fit_recovers_the_parameters_its_data_was_simulated_from():
    truth_bg = BgNbdParameters(r=0.8, alpha=6.0, a=1.2, b=3.0)
    truth_gg = GammaGammaParameters(p=5.0, q=4.0, gamma=20.0)
    base = simulate(truth_bg, truth_gg, customers=20_000, seed=7)

    model = fit_clv(base.summaries, as_of=CALIBRATION_END, fitted_at=FITTED_AT)

    found = model.purchases
    assert (found.r, found.alpha, found.a, found.b) == pytest.approx((0.8, 6.0, 1.2, 3.0), rel=0.15)
    spend = model.spend
    assert (spend.p, spend.q, spend.gamma) == pytest.approx((5.0, 4.0, 20.0), rel=0.2)
    # The fitted model expects about as many repeat purchases as were observed.
    assert model.expected_repeat_purchases == pytest.approx(
        model.observed_repeat_purchases, rel=0.02
    )


def test_fit_of_twenty_thousand_customers_takes_seconds_not_minutes():
    base = simulate(
        BgNbdParameters(0.5, 5.0, 0.9, 2.5), GammaGammaParameters(6, 4, 15), customers=20_000
    )

    started = time.perf_counter()
    fit_clv(base.summaries, as_of=CALIBRATION_END, fitted_at=FITTED_AT)
    elapsed = time.perf_counter() - started

    # 100,000 customers must fit in under 60 s (bench/clv_fit.py); a fifth of them in 12 s.
    assert elapsed < 12, f"fit of 20,000 customers took {elapsed:.1f} s"


def _branches(params: BgNbdParameters, x: int, t_x: float, age: float) -> tuple[float, float]:
    """The still-alive and dropped-out parts of the BG/NBD likelihood, by integration.

    The Poisson rate is integrated out by Gamma-Poisson conjugacy (the NBD), the
    dropout probability numerically over its Beta density: an oracle independent
    of the closed form's Beta-function algebra.
    """

    def nbd(span: float) -> float:
        r, alpha = params.r, params.alpha
        return math.exp(
            math.lgamma(r + x)
            - math.lgamma(r)
            + r * math.log(alpha)
            - (r + x) * math.log(alpha + span)
        )

    def beta(p: float) -> float:
        return float(stats.beta.pdf(p, params.a, params.b))

    alive, _ = integrate.quad(lambda p: (1 - p) ** x * beta(p), 0, 1, epsabs=0, epsrel=1e-10)
    dropped = 0.0
    if x > 0:
        dropped, _ = integrate.quad(
            lambda p: p * (1 - p) ** (x - 1) * beta(p), 0, 1, epsabs=0, epsrel=1e-10
        )
    return alive * nbd(age), dropped * nbd(t_x)


histories = st.integers(0, 6).flatmap(
    lambda x: st.tuples(
        st.just(x),
        st.floats(0.5, 30) if x else st.just(0.0),
        st.floats(0, 20),
    )
)
parameters = st.builds(
    BgNbdParameters,
    r=st.floats(1.0, 3.0),
    alpha=st.floats(1.0, 10.0),
    a=st.floats(1.05, 4.0),  # E[X(t)]'s closed form divides by a - 1
    b=st.floats(1.0, 4.0),
)


@settings(max_examples=50, deadline=None)
@given(params=parameters, history=histories)
def test_closed_form_likelihood_equals_the_integral_over_rates_and_dropouts(params, history):
    x, t_x, extra = history
    age = t_x + extra + 0.1

    closed = bg_nbd_log_likelihood(params, np.array([x], float), np.array([t_x]), np.array([age]))

    assert math.exp(closed[0]) == pytest.approx(sum(_branches(params, x, t_x, age)), rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(params=parameters, history=histories)
def test_p_alive_is_the_posterior_share_of_the_still_alive_branch(params, history):
    x, t_x, extra = history
    age = t_x + extra + 0.1
    arrays = (np.array([x], float), np.array([t_x]), np.array([age]))

    alive, dropped = _branches(params, x, t_x, age)
    oracle = alive / (alive + dropped)

    assert p_alive(params, *arrays)[0] == pytest.approx(oracle, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(params=parameters, history=histories, horizon=st.floats(1, 100))
def test_expected_purchases_grow_with_the_horizon_and_scale_with_p_alive(params, history, horizon):
    x, t_x, extra = history
    arrays = (np.array([x], float), np.array([t_x]), np.array([t_x + extra + 0.1]))

    short = expected_purchases(params, horizon, *arrays)[0]
    longer = expected_purchases(params, horizon * 2, *arrays)[0]

    assert 0 < short < longer
    assert 0 < p_alive(params, *arrays)[0] <= 1


def test_scores_carry_p_alive_expected_purchases_clv_and_churn_risk():
    model = fit_clv(published_summaries(), as_of=CALIBRATION_END, fitted_at=FITTED_AT)
    loyal = RfmSummary("loyal", frequency=10, recency=38.0, age=38.86, monetary=50.0)
    lapsed = RfmSummary("lapsed", frequency=10, recency=5.0, age=38.86, monetary=50.0)

    scores = {s.customer_id: s for s in score_customers(model, [loyal, lapsed], days=364)}

    assert scores["loyal"].p_alive > 0.9 > 0.1 > scores["lapsed"].p_alive
    for score in scores.values():
        assert score.churn_risk == pytest.approx(1 - score.p_alive)
        assert score.clv == pytest.approx(score.expected_purchases * score.expected_spend)
    assert scores["loyal"].clv > scores["lapsed"].clv
    # Spend shrinks towards the population mean p*gamma/(q-1) from the customer's own 50.
    population_mean = model.spend.p * model.spend.gamma / (model.spend.q - 1)
    assert population_mean < scores["loyal"].expected_spend < 50


def test_calibration_end_leaves_later_purchases_out():
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    purchases = [
        Purchase("c1", start, 10),
        Purchase("c1", start + timedelta(hours=3), 5),  # same day: one occasion of 15
        Purchase("c1", start + timedelta(days=14), 20),
        Purchase("c1", start + timedelta(days=70), 99),  # after as_of
    ]

    (summary,) = summarize(purchases, as_of=start + timedelta(days=28))

    assert summary == RfmSummary("c1", frequency=1, recency=2.0, age=4.0, monetary=20.0)


def test_summaries_that_contradict_themselves_are_refused_with_the_reason():
    with pytest.raises(RfmError, match="recency 5 must lie in"):
        RfmSummary("c1", frequency=1, recency=5, age=4, monetary=1)
    with pytest.raises(RfmError, match="timezone-aware"):
        summarize([], as_of=datetime(2026, 1, 1))


def test_a_base_without_repeat_buyers_cannot_fit_spend_and_says_so():
    summaries = [RfmSummary(f"c{i}", 0, 0.0, 10.0, 0.0) for i in range(5)]

    with pytest.raises(ClvFitError, match="at least 2 customers with repeat purchases"):
        fit_clv(summaries, as_of=CALIBRATION_END, fitted_at=FITTED_AT)


def test_repeat_buyers_whose_repeat_orders_were_free_are_left_out_of_the_spend_fit_only():
    summaries = published_summaries()
    summaries.append(RfmSummary("free", frequency=3, recency=20.0, age=38.86, monetary=0.0))

    model = fit_clv(summaries, as_of=CALIBRATION_END, fitted_at=FITTED_AT)

    assert model.customers == 2358
    assert model.spend_fit.customers == 946
