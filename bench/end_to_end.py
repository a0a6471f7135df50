"""End-to-end throughput: events/s fully processed by all three services, beside the DB ceiling.

The three services run with their workers (``threadline serve <svc> --with-worker``).
N simulated events go in through ``/v1/batch``; the clock stops when every
service's database shows all N processed. The ceiling is the database's own
bulk-upsert rate (PyMongo ``bulk_write`` of ``UpdateOne(..., upsert=True)``),
measured on the same server in the same run, divided by the writes one event
costs across the three services — the rate the pipeline could reach if the
database were the only cost.

usage: python -m bench.end_to_end [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from pymongo import MongoClient, UpdateOne

from bench.harness import SERVICES, BenchmarkError, Figure, print_figures, stack
from threadline.simulate import send
from threadline.simulation import Payload, generate

WRITE_KEY = "bench-write-key"

PROCESSED: dict[str, tuple[str, str]] = {
    service: (f"threadline_{service}", "inbox") for service in SERVICES
}
"""Where each service leaves one document per event it has fully processed: its consumer's
inbox (``shared.inbox``), marked after the handler's writes and publishes are confirmed."""

WRITES_PER_EVENT = 7
"""Database writes one collected event costs across the services, all bulk-batched by the
workers: profile — inbox mark, stored event, customer upsert (identity upserts only for
identities not seen before); journey — inbox mark, touchpoint; scoring — inbox mark,
customer-metrics replace. Per-customer writes are counted once per event, an upper bound
(a batch writes a customer once however many of its events it holds)."""


@dataclass(frozen=True, slots=True)
class Options:
    events: int = 10_000
    timeout_seconds: float = 600.0
    ceiling_writes: int = 50_000


def payloads(events: int) -> list[Payload]:
    # ~95 events per simulated customer; trim to exactly ``events``.
    return generate(events // 90 + 1, seed=9090)[:events]


def db_upsert_rate(mongodb_url: str, writes: int, batch: int = 1000) -> float:
    """The database's own bulk-upsert rate, in documents/s, on a scratch database."""
    client: MongoClient[dict[str, object]] = MongoClient(mongodb_url)
    try:
        collection = client["threadline_bench_ceiling"]["upserts"]
        collection.drop()
        warm = [UpdateOne({"_id": f"w{i}"}, {"$set": {"n": i}}, upsert=True) for i in range(1000)]
        collection.bulk_write(warm, ordered=False)
        operations = [
            UpdateOne(
                {"_id": f"doc-{i}"},
                {"$set": {"customer": f"c{i % 5000}", "type": "track", "n": i},
                 "$inc": {"count": 1}},
                upsert=True,
            )
            for i in range(writes)
        ]  # fmt: skip
        started = time.perf_counter()
        for start in range(0, writes, batch):
            collection.bulk_write(operations[start : start + batch], ordered=False)
        elapsed = time.perf_counter() - started
        client.drop_database("threadline_bench_ceiling")
        return writes / elapsed
    finally:
        client.close()


def processed_counts(client: MongoClient[dict[str, object]]) -> dict[str, int]:
    return {
        service: client[database][collection].estimated_document_count()
        for service, (database, collection) in PROCESSED.items()
    }


def run(options: Options | None = None) -> list[Figure]:
    options = options or Options()
    with stack() as current:
        ceiling = db_upsert_rate(current.mongodb_url, options.ceiling_writes)
        for service in SERVICES:
            current.serve(service, with_worker=True)
        events = payloads(options.events)
        client: MongoClient[dict[str, object]] = MongoClient(current.mongodb_url)
        try:
            started = time.perf_counter()
            asyncio.run(
                send(events, url=current.url("profile"), write_key=WRITE_KEY, concurrency=8)
            )
            accepted_after = time.perf_counter() - started
            deadline = started + options.timeout_seconds
            counts = processed_counts(client)
            while min(counts.values()) < len(events):
                if time.perf_counter() > deadline:
                    raise BenchmarkError(
                        f"after {options.timeout_seconds:.0f}s only {counts} of {len(events)} "
                        f"events were processed; logs in {current.workdir / 'logs'}"
                    )
                time.sleep(0.2)
                counts = processed_counts(client)
            elapsed = time.perf_counter() - started
        finally:
            client.close()
    per_event_ceiling = ceiling / WRITES_PER_EVENT
    return [
        Figure(
            f"end to end ({len(events)} events, 3 services)",
            len(events) / elapsed,
            "events/s",
            f"DB bulk upserts {ceiling:,.0f}/s ÷ {WRITES_PER_EVENT} writes/event",
            per_event_ceiling,
            note=f"all accepted after {accepted_after:.1f}s, all processed after {elapsed:.1f}s",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    print_figures(run(Options(events=args.events)))


if __name__ == "__main__":
    main()
