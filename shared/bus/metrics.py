"""Prometheus metrics of the bus (default registry, created once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PUBLISHED = Counter(
    "threadline_bus_published_events",
    "Events the broker confirmed, by CloudEvents type.",
    ["type"],
)
PUBLISH_FAILURES = Counter(
    "threadline_bus_publish_failures",
    "Publish calls that raised BusError (broker down, unconfirmed or refused).",
)
CONSUMED = Counter(
    "threadline_bus_consumed_events",
    "Consumed events by consumer group and outcome (processed, duplicate, retried, parked).",
    ["consumer", "outcome"],
)
BATCH_SECONDS = Histogram(
    "threadline_bus_handler_batch_seconds",
    "Time a consumer's handler took for one batch.",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_SIZE = Histogram(
    "threadline_bus_batch_size",
    "Messages per consumed batch.",
    ["consumer"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
