"""The journey service's event processing throughput, beside the database ceiling.

Resolved ``customer.event.*`` CloudEvents (customers browsing, buying and asking for
help over six channels, interleaved, some arriving late and out of order) go through
``services.journey.handlers.handle_events`` with the real Mongo adapters, wired as
``services.journey.bootstrap.journey_ports`` wires the worker's, in batches of 200 (the
consumer's default batch) on a SecantusDB this benchmark starts. The handler's
publishing is counted and discarded (the bus is measured elsewhere).

Beside it, the database's own journaled bulk-upsert rate measured on the same server in
the same run (``bench.end_to_end.db_upsert_rate``) divided by the documents one event
costs, counted by a PyMongo command listener from the servers' replies (inserted,
modified, upserted and deleted documents; a no-op update writes nothing).

usage: python -m bench.journey [--customers 2000] [--events-per-customer 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from bench.end_to_end import db_upsert_rate
from bench.harness import BenchmarkError, Figure, print_figures
from services.journey.adapters.mongo import INDEXES
from services.journey.bootstrap import journey_ports
from services.journey.handlers import handle_events
from shared.events import CloudEvent
from shared.mongo import Document, Mongo
from threadline.devinfra import SecantusServer, free_port

DATABASE = "threadline_bench_journey"
BATCH = 200
LATE_SHARE = 0.1
CEILING_WRITES = 10_000
CHANNELS = ("web", "mobile_app", "store", "email", "call_center", "chat")
# What a customer does, in order: browse and buy, sometimes ask for help after.
BROWSE = ("product_list_viewed", "product_viewed", "product_added", "checkout_started")
BUY = ("order_completed",)
SERVICE = ("support_ticket_opened", "support_ticket_assigned", "support_ticket_resolved")
AFTER = ("survey_answered", "product_reviewed")


class CountingPublisher:
    """Stands in for the bus: this figure is the handler's cost, not RabbitMQ's."""

    def __init__(self) -> None:
        self.published = 0

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        self.published += len(events)


class WriteCounter(monitoring.CommandListener):
    """Documents written per collection, from the replies of write commands."""

    def __init__(self) -> None:
        self.documents: Counter[str] = Counter()
        self.commands = 0
        self._pending: dict[int, str] = {}
        self.counting = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update", "delete"):
            self._pending[event.request_id] = str(event.command[event.command_name])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        collection = self._pending.pop(event.request_id, None)
        if collection is None or not self.counting:
            return
        reply = event.reply
        self.commands += 1
        if event.command_name == "update":
            written = int(reply.get("nModified", 0)) + len(reply.get("upserted") or ())
        else:
            written = int(reply.get("n", 0))
        self.documents[collection] += written

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._pending.pop(event.request_id, None)


def customer_events(customers: int, per_customer: int, seed: int = 8) -> list[CloudEvent]:
    """Each customer's ``per_customer`` events over the last 30 days, delivered interleaved
    in event-time order except for ``LATE_SHARE`` of them, which arrive hours late."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    timed: list[tuple[datetime, CloudEvent]] = []
    for c in range(customers):
        customer = f"c{c}"
        path = [*BROWSE, *BUY, *(SERVICE if rng.random() < 0.3 else ()), *AFTER]
        at = now - timedelta(days=30) + timedelta(minutes=rng.randrange(40_000))
        for step in range(per_customer):
            at += timedelta(minutes=rng.randrange(1, 240))
            name = path[min(step, len(path) - 1)] if rng.random() < 0.8 else "page_viewed"
            sku = f"sku-{rng.randrange(50)}"
            event = _event(f"{customer}-{step}", customer, name, rng.choice(CHANNELS), at, sku)
            late = timedelta(hours=rng.randrange(1, 48)) if rng.random() < LATE_SHARE else None
            timed.append((at + late if late else at, event))
    timed.sort(key=lambda pair: pair[0])
    return [event for _, event in timed]


def _event(
    ident: str, customer: str, name: str, channel: str, at: datetime, sku: str
) -> CloudEvent:
    data: dict[str, Any] = {
        "type": "track",
        "event": name,
        "eventName": name.replace("_", " ").title(),
        "customerId": customer,
        "userId": customer,
        "ingestId": f"i-{ident}",
        "channel": channel,
        "timestamp": at.isoformat(),
        "properties": {"sku": sku},
    }
    if name == "survey_answered":
        data["properties"] = {"survey": "nps", "score": int(sku[4:]) % 11}
    return CloudEvent(
        type="io.threadline.customer.event.track",
        source="bench",
        id=f"e-{ident}",
        data=data,
        subject=customer,
    )


async def throughput(url: str, events: list[CloudEvent]) -> tuple[float, WriteCounter, int]:
    """(events/s through the handler after one warm-up batch, the writes, published)."""
    counter = WriteCounter()
    # ``Mongo``'s client with the listener: the durability the worker writes at.
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url, tz_aware=True, w="majority", journal=True, event_listeners=[counter]
    )
    mongo = Mongo(url)
    try:
        await mongo.client.drop_database(DATABASE)
        await mongo.ensure_indexes(DATABASE, INDEXES)
        publisher = CountingPublisher()
        ports = journey_ports(client[DATABASE], publisher)
        await handle_events(events[:BATCH], ports)  # warm up
        counter.counting = True
        started = time.perf_counter()
        for i in range(BATCH, len(events), BATCH):
            await handle_events(events[i : i + BATCH], ports)
        elapsed = time.perf_counter() - started
        counter.counting = False
        await mongo.client.drop_database(DATABASE)
    finally:
        await client.close()
        await mongo.close()
    return (len(events) - BATCH) / elapsed, counter, publisher.published


def run(customers: int = 2000, per_customer: int = 4) -> list[Figure]:
    events = customer_events(customers, per_customer)
    if len(events) <= BATCH:
        raise BenchmarkError(f"{len(events)} events fill no timed batch; ask for more")
    with tempfile.TemporaryDirectory(prefix="threadline-bench-journey-") as workdir:
        server = SecantusServer(Path(workdir) / "secantus", port=free_port())
        server.start()
        try:
            ceiling = db_upsert_rate(server.url, CEILING_WRITES, journal=True)
            rate, writes, published = asyncio.run(throughput(server.url, events))
        finally:
            server.stop()
    timed = len(events) - BATCH
    per_event = sum(writes.documents.values()) / timed
    breakdown = ", ".join(
        f"{name} {count / timed:.2f}" for name, count in writes.documents.most_common()
    )
    print(
        f"  {len(events):,} events of {customers:,} customers; {per_event:.2f} documents "
        f"written per event ({breakdown}); {writes.commands / (timed / BATCH):.1f} write "
        f"commands per batch; {published:,} journey events published; journaled bulk "
        f"upserts {ceiling:,.0f} documents/s"
    )
    return [
        Figure(
            f"journey handler, batches of {BATCH}",
            rate,
            "events/s",
            f"{ceiling:,.0f} journaled upserts/s ÷ {per_event:.2f} writes/event",
            ceiling / per_event if per_event else 0.0,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events-per-customer", type=int, default=4)
    args = parser.parse_args()
    print_figures(run(args.customers, args.events_per_customer))


if __name__ == "__main__":
    main()
