"""Collection API throughput: events/s accepted (200 = confirmed by the broker), batched and single.

A live profile API (no workers, so nothing else competes for the two cores)
publishes into the same topology a consumer group has — topic exchange,
consistent-hash exchange, quorum shard queues — and ``wrk`` drives it from a
separate process: ``/v1/batch`` with 100 events per request, and ``/v1/track``
with one. Afterwards the messages sitting in the shard queues are counted: every
event a 200 acknowledged must be there. The ceiling is RabbitMQ's own
confirmed-publish rate into the same kind of topology, measured in the same run.

usage: python -m bench.collection [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import orjson

from bench.bus_ceiling import bench_topology, rabbit_confirmed_publish_rate
from bench.harness import BenchmarkError, Figure, Stack, print_figures, require_tool, stack
from shared.bus_topology import GroupNames
from threadline.simulation import generate

LUA = Path(__file__).with_name("collection.lua")
BATCH_EVENTS = 100
WRITE_KEY = "bench-write-key"
EXCHANGE = "threadline.events"


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float


def bodies(batch: bool, count: int) -> list[bytes]:
    """Distinct request bodies built from simulated events (unique messageIds throughout).

    ``/v1/track`` takes track calls only, so single bodies are the simulation's tracks.
    """
    wanted = count * (BATCH_EVENTS if batch else 2)  # about half the simulated events are tracks
    events = generate(wanted // 90 + 1, seed=4242)
    if not batch:
        return [orjson.dumps(event) for event in events if event["type"] == "track"][:count]
    encoded = [orjson.dumps(event) for event in events]
    return [
        b'{"batch":[' + b",".join(encoded[i : i + BATCH_EVENTS]) + b"]}"
        for i in range(0, len(encoded) - BATCH_EVENTS + 1, BATCH_EVENTS)
    ][:count]


def run_wrk(url: str, payloads: Sequence[bytes], seconds: float, connections: int) -> LoadResult:
    wrk = require_tool("wrk", "apt-get install wrk (make bench installs it)")
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as file:
        file.write(b"\n".join(payloads) + b"\n")
        file.flush()
        auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
                "-s", str(LUA), url, "--", file.name, auth]  # fmt: skip
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchmarkError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    raw = orjson.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


async def queued_messages(amqp_url: str, shards: int) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        names = GroupNames(EXCHANGE, "bench", shards)
        total = 0
        for queue in names.shard_queues:
            declared = await channel.declare_queue(queue, passive=True)
            total += declared.declaration_result.message_count or 0
        return total
    finally:
        await connection.close()


def measure_endpoint(
    current: Stack, path: str, payloads: Sequence[bytes], per_request: int, options: Options
) -> tuple[float, LoadResult, int]:
    """Accepted events/s for one endpoint, and the events counted in the queues afterwards."""

    async def run() -> tuple[LoadResult, int]:
        connection = await aio_pika.connect(current.amqp_url)
        try:
            channel = await connection.channel()
            async with bench_topology(channel, EXCHANGE, options.shards):
                url = current.url("profile") + path
                await asyncio.to_thread(run_wrk, url, payloads[:50], 2.0, options.connections)
                before = await queued_messages(current.amqp_url, options.shards)
                load = await asyncio.to_thread(
                    run_wrk, url, payloads, options.seconds, options.connections
                )
                queued = await queued_messages(current.amqp_url, options.shards) - before
                return load, queued
        finally:
            await connection.close()

    load, queued = asyncio.run(run())
    accepted = (load.requests - load.errors) * per_request
    return accepted / load.seconds, load, queued


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float = 10.0
    connections: int = 32
    shards: int = 4


def run(options: Options | None = None) -> list[Figure]:
    options = options or Options()
    with stack(shards=str(options.shards)) as current:
        ceiling = asyncio.run(
            rabbit_confirmed_publish_rate(current.amqp_url, n=20000, shards=options.shards)
        )
        current.serve("profile", with_worker=False)
        figures = []
        for name, path, batch, per_request in (
            ("collection /v1/batch (100/request)", "/v1/batch", True, BATCH_EVENTS),
            ("collection /v1/track (1/request)", "/v1/track", False, 1),
        ):
            rate, load, queued = measure_endpoint(
                current, path, bodies(batch, 400 if batch else 4000), per_request, options
            )
            counted = (load.requests - load.errors) * per_request
            if queued < counted:
                raise BenchmarkError(
                    f"{path}: {counted} events were acknowledged but only {queued} reached the "
                    "queues — a 200 must mean the broker has the event"
                )
            figures.append(
                Figure(
                    name, rate, "events/s", "RabbitMQ confirmed publish", ceiling,
                    note=f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, "
                    f"{load.errors} errors, {queued} events queued",
                )
            )  # fmt: skip
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    print_figures(run(Options(seconds=args.seconds, connections=args.connections)))


if __name__ == "__main__":
    main()
