"""End-to-end throughput: events/s fully processed by all three services, beside the DB ceiling.

The three services run with their workers (``threadline serve <svc> --with-worker``).
N simulated events go in through ``/v1/batch``; the clock stops when every
service's database shows all N processed. The ceiling is the database's own
bulk-upsert rate (PyMongo ``bulk_write`` of ``UpdateOne(..., upsert=True)``),
measured on the same server in the same run, divided by the writes one event
costs across the three services — the rate the pipeline could reach if the
database were the only cost. The writes one event costs are measured, not
assumed: the documents the services wrote during the run (inserts, updates and
upserts that changed something, counted from the server's oplog) divided by N.

usage: python -m bench.end_to_end [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.errors import PyMongoError

from bench.harness import SERVICES, BenchmarkError, Figure, print_figures, stack
from threadline.simulate import send
from threadline.simulation import Payload, generate

WRITE_KEY = "bench-write-key"

INBOX_BUCKETS = "inbox_*"
"""Stands for all of a database's inbox bucket collections (see ``shared.bus.inbox``)."""
INBOX_BUCKET = re.compile(r"inbox_\d{4}w\d{2}")

PROCESSED: dict[str, tuple[str, str]] = {
    "profile": ("threadline_profile", "events"),
    "journey": ("threadline_journey", INBOX_BUCKETS),
    "scoring": ("threadline_scoring", INBOX_BUCKETS),
}
"""Where each service leaves one document per event it has fully processed. Journey and
scoring: their consumer's inbox (``shared.bus.inbox``, summed over its weekly bucket
collections ``inbox_<year>w<week>``), marked after the handler's writes are
confirmed. Profile: its stored events, since its inbox records bus messages and the
collector sends a request's events of one customer as one ``ingest.batch`` message; the
resolved events it publishes are what journey and scoring count, so the clock stops only
once the profile's work is done too."""

SERVICE_DATABASES = tuple(f"threadline_{service}" for service in SERVICES)

HAND_COUNTED_WRITES_PER_EVENT = 4.5
"""Only when the server keeps no readable oplog (a standalone MongoDB): documents one event
writes — the stored event, the touchpoint, the journey and scoring inbox marks, up to one
profile inbox mark (one per bus message) — plus the customer, identity and metrics
documents a batch writes once per customer (about 0.3 per event in the simulation). With
an oplog (SecantusDB, any replica set) the figure is measured instead."""


@dataclass(frozen=True, slots=True)
class Writes:
    """What the services wrote during the run, read back from the server's oplog."""

    documents: dict[str, int]
    """Oplog entries (inserted, updated or deleted documents) per ``db.collection``."""
    commands: int
    """Write commands (insert/update/delete round trips) from ``serverStatus`` opcounters."""

    @property
    def total(self) -> int:
        return sum(self.documents.values())


class OplogCounter:
    """Counts the documents the services write, from the oplog between two points.

    Every document an insert, update or upsert writes is one oplog entry; a no-op
    update (nothing changed) writes none. So this is the honest writes-per-event
    figure: it counts inbox marks and per-batch customer writes as they happen.
    """

    def __init__(self, client: MongoClient[dict[str, object]]) -> None:
        self._oplog = client["local"]["oplog.rs"]
        self._admin = client["admin"]
        self._start: Any = None
        self._commands = 0

    def start(self) -> bool:
        """Remember where the oplog is now; False when the server keeps none."""
        try:
            last = list(self._oplog.find({}, {"ts": 1}).sort("$natural", -1).limit(1))
        except PyMongoError:
            return False
        if not last:
            return False
        self._start = last[0]["ts"]
        self._commands = _write_commands(self._admin)
        return True

    def stop(self) -> Writes:
        commands = _write_commands(self._admin) - self._commands
        oldest = list(self._oplog.find({}, {"ts": 1}).sort("$natural", 1).limit(1))
        if oldest and oldest[0]["ts"] > self._start:
            raise BenchmarkError(
                "the oplog wrapped during the run, so the writes cannot be counted; "
                "run fewer events (--events) or raise the server's oplog size"
            )
        documents: Counter[str] = Counter()
        for entry in self._oplog.find({"ts": {"$gt": self._start}}, {"ns": 1, "op": 1}):
            namespace = str(entry.get("ns", ""))
            if entry.get("op") in ("i", "u", "d") and namespace.split(".")[0] in (
                SERVICE_DATABASES
            ):
                documents[_grouped(namespace)] += 1
        return Writes(dict(documents), commands)


def _grouped(namespace: str) -> str:
    """``db.inbox_2026w48`` counts as ``db.inbox_*``: one line per inbox, whatever week."""
    database, _, collection = namespace.partition(".")
    if INBOX_BUCKET.fullmatch(collection):
        return f"{database}.{INBOX_BUCKETS}"
    return namespace


def _write_commands(admin: Any) -> int:
    counters = admin.command("serverStatus").get("opcounters", {})
    return sum(int(counters.get(name, 0)) for name in ("insert", "update", "delete"))


@dataclass(frozen=True, slots=True)
class Options:
    events: int = 10_000
    timeout_seconds: float = 600.0
    ceiling_writes: int = 50_000


def payloads(events: int) -> list[Payload]:
    # ~95 events per simulated customer; trim to exactly ``events``.
    return generate(events // 90 + 1, seed=9090)[:events]


def db_upsert_rate(mongodb_url: str, writes: int, batch: int = 1000, *, journal: bool) -> float:
    """The database's own bulk-upsert rate, in documents/s, on a scratch database.

    ``journal`` asks for the durability the services' writes ask for (``w: majority,
    j: true`` by default, see ``Settings.mongodb_journal``): a ceiling only bounds the
    services when it pays for the same durability.
    """
    client: MongoClient[dict[str, object]] = (
        MongoClient(mongodb_url, w="majority", journal=True)
        if journal
        else MongoClient(mongodb_url)
    )
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
        service: _document_count(client[database], collection)
        for service, (database, collection) in PROCESSED.items()
    }


def _document_count(database: Any, collection: str) -> int:
    if collection != INBOX_BUCKETS:
        return int(database[collection].estimated_document_count())
    buckets = [name for name in database.list_collection_names() if INBOX_BUCKET.fullmatch(name)]
    return sum(int(database[name].estimated_document_count()) for name in buckets)


def run(options: Options | None = None) -> list[Figure]:
    options = options or Options()
    load_before = os.getloadavg()
    with stack() as current:
        for service in SERVICES:
            current.serve(service, with_worker=True)
        events = payloads(options.events)
        client: MongoClient[dict[str, object]] = MongoClient(current.mongodb_url)
        try:
            counter = OplogCounter(client)
            measured = counter.start()
            started = time.perf_counter()
            asyncio.run(
                send(events, url=current.url("profile"), write_key=WRITE_KEY, concurrency=8)
            )
            accepted_after = time.perf_counter() - started
            load_during = os.getloadavg()
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
            load_after = os.getloadavg()
            writes = counter.stop() if measured else None
        finally:
            client.close()
        # The ceiling on the same server, once the services are idle (stopped), so it
        # neither competes with them nor shares the oplog window counted above.
        current.stop_processes()
        ceiling = db_upsert_rate(current.mongodb_url, options.ceiling_writes, journal=True)
        unjournaled = db_upsert_rate(current.mongodb_url, options.ceiling_writes, journal=False)
        print(
            f"  ceiling: {ceiling:,.0f} journaled majority upserts/s (what the services ask "
            f"for); {unjournaled:,.0f}/s without journaling"
        )
    if writes is not None:
        per_event = writes.total / len(events)
        how = (
            f"{writes.total:,} documents written (oplog) / {len(events):,} events; "
            f"{writes.commands / len(events):.2f} write commands/event"
        )
        for namespace, documents in sorted(writes.documents.items()):
            print(
                f"  writes  {namespace:<40} {documents:>8,}  {documents / len(events):5.2f}/event"
            )
    else:
        per_event = HAND_COUNTED_WRITES_PER_EVENT
        how = "hand-counted: the server keeps no oplog to measure from"
    print(
        f"  load average (1 min) before {load_before[0]:.2f}, after sending "
        f"{load_during[0]:.2f}, at the end {load_after[0]:.2f} on {os.cpu_count()} CPUs "
        "(the machine may be shared)"
    )
    return [
        Figure(
            f"end to end ({len(events)} events, 3 services)",
            len(events) / elapsed,
            "events/s",
            f"DB journaled bulk upserts {ceiling:,.0f}/s ÷ {per_event:.2f} writes/event",
            ceiling / per_event,
            note=(
                f"all accepted after {accepted_after:.1f}s, all processed after {elapsed:.1f}s; "
                f"writes/event {how}; load {load_during[0]:.1f}"
            ),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    print_figures(run(Options(events=args.events)))


if __name__ == "__main__":
    main()
