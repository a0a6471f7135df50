"""Events per second the incremental KPI ledger folds in (day, week and month buckets, per channel).

usage: python -m bench.kpi_ledger [--events 20000] [--customers 2000] [--batch 100]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore
from services.scoring.domain.kpi_ledger import KpiLedger

CHANNELS = ("web", "mobile_app", "store", "email")


def events(count: int, customers: int, seed: int = 1) -> list[KpiEvent]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        kind = rng.random()
        out.append(
            KpiEvent(
                id=f"e{i}",
                customer_id=f"c{rng.randrange(customers)}",
                channel=rng.choice(CHANNELS),
                at=start + timedelta(minutes=rng.randrange(60 * 24 * 90)),
                order=Order(f"o{i}", Decimal("25.00"), "USD") if kind < 0.2 else None,
                survey=SurveyScore("nps", rng.randrange(11)) if 0.2 <= kind < 0.25 else None,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    stream = events(args.events, args.customers)
    ledger = KpiLedger()
    started = time.perf_counter()
    for i in range(0, len(stream), args.batch):
        ledger.apply(stream[i : i + args.batch])
    elapsed = time.perf_counter() - started
    print(f"{args.events} events, {args.customers} customers, batches of {args.batch}: "
          f"{elapsed:.1f} s, {args.events / elapsed:,.0f} events/s")  # fmt: skip


if __name__ == "__main__":
    main()
