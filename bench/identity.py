"""Identity resolution: throughput through the profile handler, and ``customerByIdentity`` p99.

1. Throughput. The simulator's events (shared devices, callers known by a phone
   or loyalty card, anonymous browsing before sign-in) go through the real
   profile handler (``handle_ingested``) on the real database
   (``MongoProfileStore``), the way the worker feeds it: partitioned by the
   collector's partition key into shards handled concurrently, each in batches
   in order. The handler's publishing is discarded (the bus is measured
   elsewhere). Beside it, the database's own journaled bulk-upsert rate measured
   on the same server in the same run (``bench.end_to_end.db_upsert_rate``)
   divided by the writes one event costs, counted from the oplog
   (``bench.end_to_end.OplogCounter``). Target: ≥ 50% of that ceiling.
2. Lookup latency. 100,000 customers (user id, email and phone each) are loaded
   through the same store, then ``customerByIdentity`` is asked one request at a
   time through the profile subgraph's HTTP endpoint (``threadline serve
   profile``), with values written as people type them (upper-case emails,
   spaced phone numbers). Target: p99 < 20 ms.

usage: python -m bench.identity [--events 20000] [--customers 100000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
from pymongo import MongoClient

from bench.end_to_end import OplogCounter, db_upsert_rate
from bench.harness import BenchmarkError, Figure, print_figures, stack
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.ports import CustomerWrite, ProfileWrites
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity, IdentityRecord
from services.profile.domain.traits import TraitOp, TraitState
from services.profile.handlers import handle_ingested
from services.profile.ingest import ingest_event
from shared.auth import issue_token
from shared.events import CloudEvent, parse_time
from shared.mongo import Mongo
from shared.normalize import Receipt, normalize
from threadline.simulation import simulate

DATABASE = "threadline_profile"
SHARDS = 4
BATCH = 200
TARGET_P99_MS = 20.0
LOOKUP = "query($t: String!, $v: String!) { customerByIdentity(type: $t, value: $v) { id } }"


@dataclass(frozen=True, slots=True)
class Options:
    events: int = 20_000
    customers: int = 100_000
    lookups: int = 2_000
    ceiling_writes: int = 50_000


class _Discard:
    """The handler's publisher: the bus is not what this benchmark measures."""

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        return None


def ingest_events(events: int, seed: int = 4711) -> list[CloudEvent]:
    """``events`` of the simulator's people as the collector publishes them, in time order."""
    simulation = simulate(events // 90 + 1, seed)
    result = []
    for payload in simulation.payloads[:events]:
        received = parse_time(payload["timestamp"]) + timedelta(seconds=2)
        normalized = normalize(payload, Receipt(received_at=received, source="bench"))
        result.append(ingest_event(normalized, received, None))
    return result


def shards_of(events: Sequence[CloudEvent], shards: int = SHARDS) -> list[list[CloudEvent]]:
    """The consumer shards the worker's consistent-hash exchange would deliver to."""
    result: list[list[CloudEvent]] = [[] for _ in range(shards)]
    for event in events:
        key = (event.partitionkey or event.id).encode()
        result[zlib.crc32(key) % shards].append(event)
    return result


async def resolve_all(mongodb_url: str, events: Sequence[CloudEvent]) -> float:
    """Seconds the handler takes for every event, shards concurrently."""
    mongo = Mongo(mongodb_url, app_name="bench-identity")  # journaled majority, as services
    try:
        await mongo.ensure_indexes(DATABASE, INDEXES)
        store = MongoProfileStore(mongo.database(DATABASE))
        publisher = _Discard()

        async def consume(shard: list[CloudEvent]) -> None:
            for start in range(0, len(shard), BATCH):
                await handle_ingested(
                    shard[start : start + BATCH], store=store, publisher=publisher
                )

        started = time.perf_counter()
        await asyncio.gather(*(consume(shard) for shard in shards_of(events)))
        return time.perf_counter() - started
    finally:
        await mongo.close()


def person(index: int) -> tuple[str, list[Identity]]:
    return f"bench{index:07d}", [
        Identity("user_id", f"bench-user-{index}"),
        Identity("email", f"person{index}@bench.example.com"),
        Identity("phone", f"+4930{10_000_000 + index}"),
    ]


async def load_customers(mongodb_url: str, customers: int, chunk: int = 2000) -> float:
    """Write ``customers`` customers through the profile store (un-journaled: setup only)."""
    mongo = Mongo(mongodb_url, app_name="bench-identity-load", w=1, journal=False)
    at = parse_time("2026-06-01T12:00:00Z")
    try:
        store = MongoProfileStore(mongo.database(DATABASE))
        started = time.perf_counter()
        for start in range(0, customers, chunk):
            records, writes = [], []
            for index in range(start, min(start + chunk, customers)):
                customer_id, identities = person(index)
                records += [IdentityRecord(i, customer_id, at, at, "bench") for i in identities]
                said = TraitOp("set", f"P{index}", at, f"bench-{index}", "bench", "web")
                traits = {"firstName": TraitState.of([said])}
                state = Customer(customer_id, traits, channels=frozenset({"web"}),
                                 first_seen=at, last_seen=at)  # fmt: skip
                writes.append(CustomerWrite(state, traits, {}))
            await store.save(
                ProfileWrites(
                    new_identities=tuple(records),
                    created=tuple(w.customer.id for w in writes),
                    customers=tuple(writes),
                )
            )
        return time.perf_counter() - started
    finally:
        await mongo.close()


def as_typed(identity: Identity, rng: random.Random) -> tuple[str, str]:
    """The value as a caller would type it; canonicalization must bring it back."""
    if identity.type == "email":
        return "email", f"  {identity.value.upper()} "
    if identity.type == "phone":
        digits = identity.value
        return "phone", f"{digits[:3]} {digits[3:5]} {digits[5:9]} {digits[9:]}"
    return rng.choice(("userId", "user_id")), identity.value


def lookup_latencies(url: str, token: str, customers: int, lookups: int) -> list[float]:
    """Milliseconds per ``customerByIdentity`` request, one at a time on one connection."""
    rng = random.Random(99)
    latencies = []
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}) as client:
        for n in range(lookups + 200):  # the first 200 warm up
            customer_id, identities = person(rng.randrange(customers))
            kind, value = as_typed(rng.choice(identities), rng)
            body = {"query": LOOKUP, "variables": {"t": kind, "v": value}}
            started = time.perf_counter()
            response = client.post("/graphql", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            found = (response.json().get("data") or {}).get("customerByIdentity")
            if response.status_code != 200 or found != {"id": customer_id}:
                raise BenchmarkError(
                    f"customerByIdentity({kind}, {value!r}) answered {response.status_code} "
                    f"{response.text[:300]}; expected customer {customer_id}"
                )
            if n >= 200:
                latencies.append(elapsed)
    return latencies


async def read_latencies(mongodb_url: str, customers: int, lookups: int) -> list[float]:
    """Milliseconds of the two store reads ``customerByIdentity`` makes (identity, then
    customer), without HTTP and GraphQL: what the database alone costs a lookup."""
    rng = random.Random(98)
    mongo = Mongo(mongodb_url, app_name="bench-identity-reads")
    try:
        store = MongoProfileStore(mongo.database(DATABASE))
        latencies = []
        for n in range(lookups + 200):
            customer_id, identities = person(rng.randrange(customers))
            identity = rng.choice(identities)
            started = time.perf_counter()
            owner = (await store.known([identity]))[identity].customer_id
            found = await store.customers([owner])
            elapsed = (time.perf_counter() - started) * 1000
            if customer_id not in found:
                raise BenchmarkError(f"customer {customer_id} was not loaded")
            if n >= 200:
                latencies.append(elapsed)
        return latencies
    finally:
        await mongo.close()


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(options: Options | None = None) -> list[Figure]:
    options = options or Options()
    events = ingest_events(options.events)
    with stack(hygiene_interval_seconds="0") as current:
        client: MongoClient[dict[str, object]] = MongoClient(current.mongodb_url)
        try:
            counter = OplogCounter(client)
            if not counter.start():
                raise BenchmarkError("the database keeps no oplog; writes/event cannot be counted")
            elapsed = asyncio.run(resolve_all(current.mongodb_url, events))
            writes = counter.stop()
        finally:
            client.close()
        ceiling = db_upsert_rate(current.mongodb_url, options.ceiling_writes, journal=True)
        per_event = writes.total / len(events)
        for namespace, documents in sorted(writes.documents.items()):
            print(
                f"  writes  {namespace:<36} {documents:>8,}  {documents / len(events):5.2f}/event"
            )
        loaded = asyncio.run(load_customers(current.mongodb_url, options.customers))
        print(f"  loaded {options.customers:,} customers (3 identities each) in {loaded:.0f}s")
        current.serve("profile", with_worker=False)
        token = issue_token(current.env["THREADLINE_JWT_SECRET"], ["customers:read"])
        latencies = lookup_latencies(
            current.url("profile"), token, options.customers, options.lookups
        )
        reads = asyncio.run(read_latencies(current.mongodb_url, options.customers, options.lookups))
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    return [
        Figure(
            f"identity resolution ({len(events):,} simulated events, handler on DB)",
            len(events) / elapsed,
            "events/s",
            f"DB journaled bulk upserts {ceiling:,.0f}/s ÷ {per_event:.2f} writes/event",
            ceiling / per_event,
            note=f"{SHARDS} shards × batches of {BATCH}; target ≥ 50%",
        ),
        Figure(
            f"customerByIdentity p99 ({options.customers:,} customers, HTTP, 1 conn)",
            p99,
            "ms",
            "target",
            TARGET_P99_MS,
            note=(
                f"p99 {p99:.2f} ms, p50 {p50:.2f} ms, mean {statistics.fmean(latencies):.2f} ms "
                f"over {len(latencies):,} lookups; its two database reads alone: p99 "
                f"{percentile(reads, 0.99):.2f} ms, p50 {percentile(reads, 0.5):.2f} ms; "
                "lower is better (target: ratio < 100%)"
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = Options()
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--lookups", type=int, default=defaults.lookups)
    args = parser.parse_args()
    print_figures(run(Options(events=args.events, customers=args.customers, lookups=args.lookups)))


if __name__ == "__main__":
    main()
