"""Predictive customer lifetime value: BG/NBD for purchase counts, Gamma-Gamma for spend.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
while alive a customer buys at Poisson rate λ ~ Gamma(r, α); after each purchase
they drop out with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee
2005, "RFM and CLV"; Colombo & Jiang 1999): a customer's transaction values are
Gamma(p, ν) around a mean with ν ~ Gamma(q, γ), independent of the purchase
process.

Both are fitted by maximum likelihood over log-parameters (so they stay
positive) with a vectorized log-likelihood; identical (x, t_x, T) rows are
collapsed into weights first, so a base of 100,000 customers costs little more
than its number of distinct histories.

Time is measured in the unit of the summaries (``RfmSummary``; weeks by
default); ``days`` arguments are converted with ``time_unit_days``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from services.scoring.domain import ScoringError
from services.scoring.domain.rfm import RfmSummary

Array = npt.NDArray[np.float64]


class ClvFitError(ScoringError):
    """The purchase histories cannot support a fit, or the optimizer failed."""


@dataclass(frozen=True, slots=True)
class FitDiagnostics:
    """How a maximum-likelihood fit went; enough to judge whether to trust it."""

    log_likelihood: float
    converged: bool
    iterations: int
    message: str
    customers: int


@dataclass(frozen=True, slots=True)
class BgNbdParameters:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True, slots=True)
class GammaGammaParameters:
    p: float
    q: float
    gamma: float


@dataclass(frozen=True, slots=True)
class ClvModel:
    """A fitted BG/NBD + Gamma-Gamma pair: DESIGN.md's ``ClvModel`` and its diagnostics."""

    purchases: BgNbdParameters
    spend: GammaGammaParameters
    time_unit_days: float
    customers: int
    fitted_at: datetime
    as_of: datetime
    purchase_fit: FitDiagnostics
    spend_fit: FitDiagnostics
    observed_repeat_purchases: float
    expected_repeat_purchases: float

    @property
    def time_unit(self) -> str:
        return {1.0: "day", 7.0: "week"}.get(self.time_unit_days, f"{self.time_unit_days:g} days")


@dataclass(frozen=True, slots=True)
class CustomerClv:
    """One customer's predictions; ``churn_risk`` is ``1 - p_alive``."""

    customer_id: str
    p_alive: float
    expected_purchases: float
    expected_spend: float
    clv: float
    churn_risk: float
    horizon_days: float


def fit_clv(
    summaries: Sequence[RfmSummary],
    *,
    as_of: datetime,
    fitted_at: datetime,
    time_unit_days: float = 7.0,
) -> ClvModel:
    """Fit both models on summaries made with the same ``as_of`` and time unit."""
    if len(summaries) < 2:
        raise ClvFitError(
            f"a CLV fit needs purchase histories of at least 2 customers, got {len(summaries)}; "
            "choose a later as_of or wait for more orders"
        )
    x, t_x, age = _arrays(summaries)
    purchases, purchase_fit = fit_bg_nbd(x, t_x, age)
    monetary = np.array([s.monetary for s in summaries])
    # Gamma-Gamma describes positive spend: repeat buyers whose repeat orders were all
    # free carry no information about it and are left out of the spend fit.
    paying = (x > 0) & (monetary > 0)
    spend, spend_fit = fit_gamma_gamma(x[paying], monetary[paying])
    expected = expected_purchases_unconditional(purchases, age)
    return ClvModel(
        purchases=purchases,
        spend=spend,
        time_unit_days=time_unit_days,
        customers=len(summaries),
        fitted_at=fitted_at,
        as_of=as_of,
        purchase_fit=purchase_fit,
        spend_fit=spend_fit,
        observed_repeat_purchases=float(x.sum()),
        expected_repeat_purchases=float(expected.sum()),
    )


def bg_nbd_log_likelihood(params: BgNbdParameters, x: Array, t_x: Array, age: Array) -> Array:
    """Each customer's log-likelihood under BG/NBD (equation 6 of the paper, in logs)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + age)
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    xr = x[repeat]
    dropped[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return np.asarray(common + np.logaddexp(still_alive, dropped), dtype=np.float64)


def gamma_gamma_log_likelihood(params: GammaGammaParameters, x: Array, monetary: Array) -> Array:
    """Log-likelihood of each repeat customer's mean spend ``monetary`` over ``x`` purchases."""
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return np.asarray(
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(monetary)
        + px * np.log(x)
        - (px + q) * np.log(g + monetary * x),
        dtype=np.float64,
    )


def fit_bg_nbd(x: Array, t_x: Array, age: Array) -> tuple[BgNbdParameters, FitDiagnostics]:
    rows = np.stack([x, t_x, age], axis=1)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    ux, ut, ua = unique[:, 0], unique[:, 1], unique[:, 2]
    weights = counts.astype(np.float64)

    def negative(log_params: Array) -> float:
        params = BgNbdParameters(*np.exp(log_params))
        return -float(weights @ bg_nbd_log_likelihood(params, ux, ut, ua))

    found, diagnostics = _maximize(negative, 4, len(x))
    return BgNbdParameters(*found), diagnostics


def fit_gamma_gamma(x: Array, monetary: Array) -> tuple[GammaGammaParameters, FitDiagnostics]:
    if len(x) < 2:
        raise ClvFitError(
            f"the spend model needs at least 2 customers with repeat purchases, got {len(x)}; "
            "choose a later as_of so more customers have bought twice"
        )
    if np.any(monetary <= 0):
        raise ClvFitError(
            "the spend model needs a positive mean repeat spend for every repeat customer; "
            "leave out orders without revenue, or customers whose repeat orders are all free"
        )

    def negative(log_params: Array) -> float:
        params = GammaGammaParameters(*np.exp(log_params))
        return -float(gamma_gamma_log_likelihood(params, x, monetary).sum())

    found, diagnostics = _maximize(negative, 3, len(x))
    return GammaGammaParameters(*found), diagnostics


def _maximize(
    negative: Callable[[Array], float], size: int, customers: int
) -> tuple[list[float], FitDiagnostics]:
    # L-BFGS-B with numerical gradients converges in ~100 evaluations; Nelder-Mead,
    # slower and prone to wander along the Gamma-Gamma ridge, is the fallback.
    start = np.zeros(size)
    with np.errstate(all="ignore"):
        best = minimize(negative, start, method="L-BFGS-B")
        if not (best.success and np.isfinite(best.fun)):
            fallback = minimize(negative, start, method="Nelder-Mead", options={"maxiter": 4000})
            if not np.isfinite(best.fun) or fallback.fun < best.fun:
                best = fallback
    if not np.isfinite(best.fun):
        raise ClvFitError(
            "the likelihood is not finite at any parameters tried; check that recency <= age "
            "and that spend values are positive"
        )
    return [float(v) for v in np.exp(best.x)], FitDiagnostics(
        log_likelihood=-float(best.fun),
        converged=bool(best.success),
        iterations=int(best.nit),
        message=str(best.message),
        customers=customers,
    )


def p_alive(params: BgNbdParameters, x: Array, t_x: Array, age: Array) -> Array:
    """P(still alive at ``age`` | history); 1 for customers who never bought again."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    odds = np.zeros_like(x)
    repeat = x > 0
    xr = x[repeat]
    odds[repeat] = np.exp(
        np.log(a)
        - np.log(b + xr - 1)
        + (r + xr) * np.log((alpha + age[repeat]) / (alpha + t_x[repeat]))
    )
    return np.asarray(1.0 / (1.0 + odds), dtype=np.float64)


def expected_purchases(
    params: BgNbdParameters, t: float, x: Array, t_x: Array, age: Array
) -> Array:
    """E[purchases in the next ``t`` units | history] (equation 10 of the paper)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + age + t)
    growth = 1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, z
    )
    return np.asarray((a + b + x - 1) / (a - 1) * growth * p_alive(params, x, t_x, age))


def expected_purchases_unconditional(params: BgNbdParameters, t: Array) -> Array:
    """E[X(t)] for a customer observed ``t`` units since their first purchase (equation 9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    tail = (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z)
    return np.asarray((a + b - 1) / (a - 1) * (1 - tail), dtype=np.float64)


def expected_spend(params: GammaGammaParameters, x: Array, monetary: Array) -> Array:
    """E[mean purchase value | x repeat purchases averaging ``monetary``]; prior mean at x=0."""
    p, q, g = params.p, params.q, params.gamma
    return np.asarray((g + monetary * x) * p / (p * x + q - 1), dtype=np.float64)


def score_customers(
    model: ClvModel, summaries: Sequence[RfmSummary], *, days: float = 365.0
) -> list[CustomerClv]:
    """pAlive, expected purchases over ``days``, expected spend, CLV and churn risk per customer.

    CLV is undiscounted: expected purchases times expected value per purchase.
    """
    if model.spend.q <= 1:
        raise ClvFitError(
            f"the spend model's q = {model.spend.q:.3f} <= 1 has no finite mean spend; "
            "refit on a longer calibration period"
        )
    x, t_x, age = _arrays(summaries)
    monetary = np.array([s.monetary for s in summaries])
    alive = p_alive(model.purchases, x, t_x, age)
    purchases = expected_purchases(model.purchases, days / model.time_unit_days, x, t_x, age)
    spend = expected_spend(model.spend, x, monetary)
    return [
        CustomerClv(
            customer_id=summary.customer_id,
            p_alive=float(alive[i]),
            expected_purchases=float(purchases[i]),
            expected_spend=float(spend[i]),
            clv=float(purchases[i] * spend[i]),
            churn_risk=float(1 - alive[i]),
            horizon_days=days,
        )
        for i, summary in enumerate(summaries)
    ]


def _arrays(summaries: Sequence[RfmSummary]) -> tuple[Array, Array, Array]:
    x = np.array([s.frequency for s in summaries], dtype=np.float64)
    t_x = np.array([s.recency for s in summaries], dtype=np.float64)
    age = np.array([s.age for s in summaries], dtype=np.float64)
    return x, t_x, age
