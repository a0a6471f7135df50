"""The scoring service's figures, each beside a ceiling measured in the same run.

- per-event scoring: resolved events through the ``scoring.events`` handler (metrics,
  KPI facts, contributions, day buckets, crossings) on the real database, in batches
  of 200, against the database's own journaled bulk-upsert rate;
- the company KPI query (a year, a month, a year with a monthly trend) over the day
  buckets of 100,000 customers and 1,000,000 events, against reading the same
  bucket documents raw (target < 200 ms);
- a BG/NBD + Gamma-Gamma fit over 100,000 simulated customers (target < 60 s).

usage: python -m bench.scoring [--events 4000] [--customers 100000] [--base-events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson.decimal128 import Decimal128

from bench.end_to_end import db_upsert_rate
from bench.harness import Figure, print_figures
from services.scoring.adapters.kpi_store import BUCKETS, INDEXES, MONTHS, MongoKpiStore
from services.scoring.adapters.models import MongoModelStore
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.config import ScoringConfig
from services.scoring.domain.clv import BgNbdParameters, GammaGammaParameters, fit_clv
from services.scoring.domain.clv_simulation import simulate
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_buckets import (
    ALL,
    Contribution,
    Fact,
    combine,
    customer_contribution,
    day_number,
    month_rollup,
    order_contribution,
    parse_bucket_id,
    parse_month_id,
)
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore, TicketUpdate
from services.scoring.domain.kpi_query import Days, kpi_report, trend
from services.scoring.queries import kpis
from services.scoring.worker import ScoringPorts, events_consumer
from shared.events import CloudEvent
from shared.mongo import Document, Mongo
from threadline.devinfra import SecantusServer, free_port

START = datetime(2025, 1, 1, tzinfo=UTC)
CHANNELS = ("web", "mobile_app", "store", "email", "call_center", "chat")
RATES = ExchangeRates("USD", {"EUR": Decimal("1.08")})
QUERY_TARGET_MS = 200.0
FIT_TARGET_S = 60.0


class CountingPublisher:
    """Stands in for the bus: this figure is the handler's cost, not RabbitMQ's."""

    def __init__(self) -> None:
        self.published = 0

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        self.published += len(events)


def resolved_events(count: int, customers: int, seed: int = 3) -> list[CloudEvent]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        customer = f"c{rng.randrange(customers)}"
        kind = rng.random()
        data: dict[str, Any] = {
            "type": "page",
            "customerId": customer,
            "userId": customer,
            "ingestId": f"i{i}",
            "channel": rng.choice(CHANNELS),
            # the last 30 days, as a live stream is mostly recent (late events included)
            "timestamp": (START + timedelta(minutes=rng.randrange(43_200))).isoformat(),
        }
        if kind < 0.2:
            data |= {
                "type": "track",
                "event": "order_completed",
                "properties": {"order_id": f"o{i}"},
                "money": {"revenue": "25.00", "currency": "EUR"},
            }
        elif kind < 0.25:
            data |= {
                "type": "track",
                "event": "survey_answered",
                "properties": {"survey": "nps", "score": rng.randrange(11)},
            }
        out.append(
            CloudEvent(
                type="io.threadline.customer.event.track",
                source="bench",
                id=f"e{i}",
                data=data,
                subject=customer,
            )
        )
    return out


async def per_event(url: str, count: int) -> tuple[float, float]:
    """(events/s through the handler, journaled upserts/s of the database)."""
    ceiling = await asyncio.to_thread(db_upsert_rate, url, 20_000, journal=True)
    mongo = Mongo(url)
    try:
        database = mongo.database("threadline_bench_scoring")
        await mongo.client.drop_database(database.name)
        await mongo.ensure_indexes(database.name, INDEXES)
        ports = ScoringPorts(
            MongoMetricsStore(database),
            MongoKpiStore(database),
            MongoModelStore(database),
            CountingPublisher(),
            ScoringConfig(rates=RATES),
        )
        handle = events_consumer(ports).handler
        stream = resolved_events(count, customers=max(1, count // 5))
        await handle(stream[:200])  # warm up
        started = time.perf_counter()
        for i in range(200, len(stream), 200):
            await handle(stream[i : i + 200])
        elapsed = time.perf_counter() - started
        await mongo.client.drop_database(database.name)
    finally:
        await mongo.close()
    return (count - 200) / elapsed, ceiling


def base(customers: int, events: int, seed: int = 5) -> Contribution:
    """The day buckets of a year of ``events`` over ``customers``, as the store would sum them."""
    rng = random.Random(seed)
    per_customer: list[list[Fact]] = [[] for _ in range(customers)]
    orders: dict[str, list[KpiEvent]] = {}
    for i in range(events):
        c = rng.randrange(customers)
        kind = rng.random()
        event = KpiEvent(
            id=f"e{i}",
            customer_id=f"c{c}",
            channel=rng.choice(CHANNELS),
            at=START + timedelta(minutes=rng.randrange(525_600)),
            order=Order(f"o{i}", Decimal("25.00"), "EUR") if kind < 0.15 else None,
            survey=SurveyScore("nps", rng.randrange(11)) if 0.15 <= kind < 0.2 else None,
            ticket=TicketUpdate(f"t{c}", rng.choice(["opened", "resolved"]))
            if 0.2 <= kind < 0.23
            else None,
        )
        per_customer[c].append(Fact(event, identified=rng.random() < 0.7))
        if event.order is not None:
            orders[event.order.order_id] = [event]
    parts = [customer_contribution(facts) for facts in per_customer if facts]
    parts += [order_contribution(mine) for mine in orders.values()]
    return combine(parts)


async def kpi_query(url: str, customers: int, events: int) -> list[Figure]:
    built = time.perf_counter()
    total = await asyncio.to_thread(base, customers, events)
    print(
        f"  built the buckets of {customers:,} customers / {events:,} events "
        f"in {time.perf_counter() - built:.0f} s ({len(total):,} buckets)"
    )
    mongo = Mongo(url)
    figures = []
    try:
        database = mongo.database("threadline_bench_kpis")
        await mongo.client.drop_database(database.name)
        await mongo.ensure_indexes(database.name, INDEXES)
        # The day buckets and their month rollups, as the store keeps both.
        for collection, buckets, parse in (
            (BUCKETS, total, parse_bucket_id),
            (MONTHS, month_rollup(total), parse_month_id),
        ):
            await database[collection].insert_many(_documents(buckets, parse), ordered=False)
        store = MongoKpiStore(database)
        year = (START, START + timedelta(days=365))
        month = (START + timedelta(days=181), START + timedelta(days=212))

        async def raw_year() -> None:
            cursor = database[BUCKETS].find({"scope": "*", "day": {"$gte": 0}})
            async for _ in cursor:
                pass

        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("company KPIs, a year", lambda: kpis(store, *year, RATES)),
            ("company KPIs, a month", lambda: kpis(store, *month, RATES)),
            (
                "company KPIs, a year + monthly trend",
                lambda: kpis(store, *year, RATES, granularity="month"),
            ),
        ]
        ceiling = await _median_ms(raw_year)
        same = await _trend_as_day_by_day(store, *year)
        for name, call in cases:
            ours = await _median_ms(call)
            checked = f"; equal to the day-by-day trend: {same}" if "trend" in name else ""
            figures.append(
                Figure(
                    name,
                    ours,
                    "ms",
                    "reading those buckets raw",
                    ceiling,
                    note=f"target < {QUERY_TARGET_MS:.0f} ms: "
                    + ("met" if ours < QUERY_TARGET_MS else "MISSED")
                    + checked,
                )
            )
        await mongo.client.drop_database(database.name)
    finally:
        await mongo.close()
    return figures


async def _trend_as_day_by_day(store: MongoKpiStore, start: datetime, end: datetime) -> str:
    """Whether the monthly trend read from rollups is the one summed over every day bucket."""
    days = Days(day_number(start), day_number(end))
    every_day = (await store.buckets([ALL], days.previous.first, days.end)).get(ALL, {})
    fast = await kpis(store, start, end, RATES, granularity="month")
    same = fast.report == kpi_report(every_day, days, RATES) and fast.trend == trend(
        every_day, days, "month", RATES
    )
    return "yes" if same else "NO"


def _documents(buckets: Contribution, parse: Callable[[str], tuple[int, str]]) -> list[Document]:
    """The documents the store's ``$inc`` of dotted fields builds, inserted whole: the database
    takes minutes to upsert a month rollup of thousands of fields one ``$inc`` at a time."""
    documents = []
    for bucket, fields in buckets.items():
        day, scope = parse(bucket)
        nested: dict[str, Any] = {}
        for name, value in fields.items():
            *path, leaf = name.split(".")
            node = nested
            for part in path:
                node = node.setdefault(part, {})
            node[leaf] = Decimal128(value) if isinstance(value, Decimal) else value
        documents.append({"_id": bucket, "day": day, "scope": scope, "f": nested})
    return documents


async def _median_ms(call: Callable[[], Awaitable[Any]], runs: int = 15) -> float:
    await call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def clv_fit(customers: int) -> Figure:
    truth = BgNbdParameters(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend = GammaGammaParameters(p=6.25, q=3.74, gamma=15.44)
    summaries = simulate(truth, spend, customers=customers, seed=0).summaries
    now = datetime.now(UTC)
    started = time.perf_counter()
    model = fit_clv(summaries, as_of=now, fitted_at=now)
    elapsed = time.perf_counter() - started
    found = model.purchases
    return Figure(
        f"CLV fit, {customers:,} customers",
        elapsed,
        "s",
        "target",
        FIT_TARGET_S,
        note=f"r={found.r:.3f} alpha={found.alpha:.2f} a={found.a:.3f} b={found.b:.3f} "
        f"(simulated from {truth.r}, {truth.alpha}, {truth.a}, {truth.b})",
    )


def run(events: int = 4000, customers: int = 100_000, base_events: int = 1_000_000) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-scoring-") as workdir:
        server = SecantusServer(Path(workdir) / "secantus", port=free_port())
        server.start()
        try:
            rate, ceiling = asyncio.run(per_event(server.url, events))
            figures = [
                Figure(
                    "scoring handler, batches of 200",
                    rate,
                    "events/s",
                    "journaled bulk upserts, documents/s",
                    ceiling,
                    note="writes per event: facts, contributions, buckets, metrics, states",
                )
            ]
            figures += asyncio.run(kpi_query(server.url, customers, base_events))
        finally:
            server.stop()
    figures.append(clv_fit(customers))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--base-events", type=int, default=1_000_000)
    args = parser.parse_args()
    print_figures(run(args.events, args.customers, args.base_events))


if __name__ == "__main__":
    main()
