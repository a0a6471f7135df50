"""Time the journey dashboards over a large base (issue 8 item 6: 1,000,000 touchpoints of
100,000 customers, funnel and paths in under 2 s).

Loads simulated touchpoints into a fresh SecantusDB with the journey's indexes, then
times ``funnel`` (3 steps over 30 days) and ``paths`` (channel transitions, top 10)
as the graph computes them: the analytics store's read (step events only for the
funnel, index ``by_event_time``; the period for paths, ``by_time``) plus the pure
domain. The ceiling beside each is the database's own read of the same documents
with the same projection (a bare ``find`` drained into a list), the floor of any
design that reads touchpoints at query time.

usage: python -m bench.journey_analytics [--customers 100000] [--per-customer 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from bench.harness import Figure, print_figures, stack
from services.journey.adapters.mongo import INDEXES, TOUCHPOINTS
from services.journey.adapters.mongo_analytics import MongoAnalyticsStore
from services.journey.domain.funnels import FunnelQuery, funnel
from services.journey.domain.interactions import stored
from services.journey.domain.paths import by_channel, transitions
from shared.mongo import WHOLE_BATCH, Mongo

TARGET_SECONDS = 2.0
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
VOCABULARY = (
    ("Product Viewed", "product_viewed", 30),
    ("Product Added", "product_added", 12),
    ("Checkout Started", "checkout_started", 6),
    ("Order Completed", "order_completed", 4),
    ("Product Added to Wishlist", "product_added_to_wishlist", 6),
    ("Store Visited", "store_visited", 6),
    ("Support Ticket Opened", "support_ticket_opened", 3),
    ("Email Opened", "email_opened", 15),
    ("Survey Answered", "survey_answered", 3),
)
CHANNELS = ("web", "mobile_app", "store", "call_center", "email", "sms", "chat", "partner")
STEPS = ("Product Viewed", "Checkout Started", "Order Completed")


def documents(customers: int, per_customer: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    names = [v[:2] for v in VOCABULARY]
    weights = [v[2] for v in VOCABULARY]
    docs: list[dict[str, object]] = []
    for c in range(customers):
        moment = START + timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        for k in range(per_customer):
            moment += timedelta(minutes=rng.choice((2, 5, 20, 45, 600, 3000)))
            original, event = rng.choices(names, weights)[0]
            docs.append(
                {
                    "_id": f"t{c}-{k}",
                    "customerId": f"c{c}",
                    "eventId": f"i{c}-{k}",
                    "type": "track",
                    "event": event,
                    "eventName": original,
                    "channel": rng.choice(CHANNELS),
                    "timestamp": moment,
                    "properties": {"sku": f"s{rng.randrange(500)}"},
                }
            )
    return docs


async def load(url: str, docs: list[dict[str, object]]) -> None:
    # Loading is set-up, not measured: un-journaled writes.
    mongo = Mongo(url, w=1, journal=False)
    try:
        await mongo.ensure_indexes(
            "bench_journey", [i for i in INDEXES if i.collection == TOUCHPOINTS]
        )
        collection = mongo.database("bench_journey")[TOUCHPOINTS]
        for n in range(0, len(docs), 20_000):
            await collection.insert_many(docs[n : n + 20_000], ordered=False)
    finally:
        await mongo.close()


async def bare_read(url: str, query: dict[str, object]) -> float:
    mongo = Mongo(url)
    try:
        collection = mongo.database("bench_journey")[TOUCHPOINTS]
        started = time.perf_counter()
        cursor = collection.find(query, {"properties": 0, "summary": 0}, batch_size=WHOLE_BATCH)
        found = [doc async for doc in cursor]
        elapsed = time.perf_counter() - started
        del found
        return elapsed
    finally:
        await mongo.close()


async def measure(url: str) -> tuple[float, float, float, float, int, int]:
    end = START + timedelta(days=DAYS)
    query = FunnelQuery(STEPS, START, end)
    window_end = end + query.within + timedelta(microseconds=1)
    mongo = Mongo(url)
    try:
        store = MongoAnalyticsStore(mongo.database("bench_journey"))
        started = time.perf_counter()
        points = await store.touchpoints_between(START, window_end, events=list(query.events))
        computing = time.perf_counter()
        result = funnel(query, [stored(p) for p in points])
        funnel_seconds = time.perf_counter() - started
        print(
            f"funnel: computing {time.perf_counter() - computing:.2f} s of {funnel_seconds:.2f} s"
        )
        funnel_reads = len(points)
        started = time.perf_counter()
        points = await store.touchpoints_between(START, end)
        computing = time.perf_counter()
        moves = transitions([stored(p) for p in points], by_channel, top=10)
        paths_seconds = time.perf_counter() - started
        print(f"paths: computing {time.perf_counter() - computing:.2f} s of {paths_seconds:.2f} s")
        paths_reads = len(points)
    finally:
        await mongo.close()
    del result, moves
    funnel_floor = await bare_read(
        url,
        {"event": {"$in": list(query.events)}, "timestamp": {"$gte": START, "$lt": window_end}},
    )
    paths_floor = await bare_read(url, {"timestamp": {"$gte": START, "$lt": end}})
    return funnel_seconds, funnel_floor, paths_seconds, paths_floor, funnel_reads, paths_reads


def run(customers: int = 100_000, per_customer: int = 10, seed: int = 0) -> list[Figure]:
    docs = documents(customers, per_customer, seed)
    with stack() as current:
        started = time.perf_counter()
        asyncio.run(load(current.mongodb_url, docs))
        print(f"loaded {len(docs):,} touchpoints of {customers:,} customers "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        del docs
        funnel_s, funnel_floor, paths_s, paths_floor, f_reads, p_reads = asyncio.run(
            measure(current.mongodb_url)
        )
    verdict = {True: "met", False: "MISSED"}
    return [
        Figure(f"funnel, 3 steps, 30 days ({f_reads:,} step touchpoints read)", funnel_s, "s",
               "bare find of the same documents", funnel_floor,
               note=f"target < {TARGET_SECONDS:.0f} s: {verdict[funnel_s < TARGET_SECONDS]}"),
        Figure(f"paths by channel, top 10, 30 days ({p_reads:,} touchpoints read)", paths_s, "s",
               "bare find of the same documents", paths_floor,
               note=f"target < {TARGET_SECONDS:.0f} s: {verdict[paths_s < TARGET_SECONDS]}"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--per-customer", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print_figures(run(args.customers, args.per_customer, args.seed))


if __name__ == "__main__":
    main()
