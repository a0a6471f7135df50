"""Time a BG/NBD + Gamma-Gamma fit over a simulated customer base (target: 100,000 in < 60 s).

usage: python -m bench.clv_fit [--customers 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from services.scoring.domain.clv import BgNbdParameters, GammaGammaParameters, fit_clv
from services.scoring.domain.clv_simulation import simulate

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    truth = BgNbdParameters(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend = GammaGammaParameters(p=6.25, q=3.74, gamma=15.44)
    base = simulate(truth, spend, customers=args.customers, seed=args.seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    model = fit_clv(base.summaries, as_of=now, fitted_at=now)
    elapsed = time.perf_counter() - started
    found, gg = model.purchases, model.spend
    print(f"customers {model.customers}, fit {elapsed:.2f} s (target < {TARGET_SECONDS:.0f} s)")
    print(f"BG/NBD  r={found.r:.3f} alpha={found.alpha:.3f} a={found.a:.3f} b={found.b:.3f}")
    print(f"        simulated from r={truth.r} alpha={truth.alpha} a={truth.a} b={truth.b}")
    print(f"GammaGamma p={gg.p:.3f} q={gg.q:.3f} gamma={gg.gamma:.3f}")
    print(f"        simulated from p={spend.p} q={spend.q} gamma={spend.gamma}")
    print("met" if elapsed < TARGET_SECONDS else "MISSED")


if __name__ == "__main__":
    main()
