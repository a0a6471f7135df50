"""Purchase histories drawn from the BG/NBD and Gamma-Gamma models themselves.

A fit that cannot recover the parameters its data was drawn from is wrong, so
this is how the fitting is checked (tests) and timed (``bench/clv_fit.py``).
Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.scoring.domain.clv import BgNbdParameters, GammaGammaParameters
from services.scoring.domain.rfm import RfmSummary


@dataclass(frozen=True, slots=True)
class SimulatedBase:
    purchases: BgNbdParameters
    spend: GammaGammaParameters
    summaries: list[RfmSummary]


def simulate(
    purchases: BgNbdParameters,
    spend: GammaGammaParameters,
    *,
    customers: int,
    min_age: float = 20.0,
    max_age: float = 60.0,
    seed: int = 0,
) -> SimulatedBase:
    """``customers`` histories whose ages are uniform in [min_age, max_age] time units.

    BG/NBD: transaction rate λ ~ Gamma(r, rate α), dropout probability
    p ~ Beta(a, b); after each repeat purchase the customer leaves with
    probability p. Gamma-Gamma: ν ~ Gamma(q, rate γ), each repeat purchase's
    value ~ Gamma(p, rate ν).
    """
    rng = np.random.default_rng(seed)
    rates = rng.gamma(purchases.r, 1 / purchases.alpha, customers)
    dropouts = rng.beta(purchases.a, purchases.b, customers)
    ages = rng.uniform(min_age, max_age, customers)
    scales = rng.gamma(spend.q, 1 / spend.gamma, customers)
    summaries = []
    for i in range(customers):
        x, last, now = 0, 0.0, 0.0
        while True:
            now += rng.exponential(1 / rates[i])
            if now > ages[i]:
                break
            x, last = x + 1, now
            if rng.random() < dropouts[i]:
                break
        monetary = float(rng.gamma(spend.p, 1 / scales[i], x).mean()) if x else 0.0
        summaries.append(
            RfmSummary(
                customer_id=f"c{i:07d}",
                frequency=x,
                recency=last,
                age=float(ages[i]),
                monetary=monetary,
            )
        )
    return SimulatedBase(purchases=purchases, spend=spend, summaries=summaries)
