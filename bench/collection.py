"""Collection API throughput: events/s accepted (200 = confirmed by the broker), batched and single.

A live profile API (no workers, so nothing else competes for the two cores)
publishes into the same topology a consumer group has — topic exchange,
consistent-hash exchange, quorum shard queues — and ``wrk`` drives it from a
separate process, in three shapes:

- ``device``: ``/v1/batch`` with 100 events of one anonymousId per request (what
  analytics.js and the mobile SDKs send), many devices: one bus message per request;
- ``server``: ``/v1/batch`` with 100 events of 100 different users (a server-side
  library's batch): one bus message per event;
- ``track``: ``/v1/track`` with one event.

Afterwards the shard queues are read back and the events inside the messages
counted (a batch message holds its events): every event a 200 acknowledged must
be there. The ceiling is RabbitMQ's own confirmed-publish rate of single messages
into the same kind of topology, measured in the same run. The API runs under
uvicorn with 1 and with 2 worker processes (``--workers``).

usage: python -m bench.collection [--seconds 10] [--connections 32] [--workers 1 2]
       [--shapes device server track]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage
from starlette.applications import Starlette

from bench.bus_ceiling import bench_topology, rabbit_confirmed_publish_rate
from bench.harness import BenchmarkError, Figure, Stack, print_figures, require_tool, stack
from shared.bus.topology import GroupNames
from threadline.processes import ChildProcess, wait_ready
from threadline.simulation import generate

LUA = Path(__file__).with_name("collection.lua")
BATCH_EVENTS = 100
WRITE_KEY = "bench-write-key"
EXCHANGE = "threadline.events"
SHAPES = ("device", "server", "track")


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float


def bodies(shape: str, count: int) -> list[bytes]:
    """Distinct request bodies built from simulated events (unique messageIds throughout).

    ``/v1/track`` takes track calls only, so single bodies are the simulation's tracks.
    """
    wanted = count * (BATCH_EVENTS if shape != "track" else 2)  # about half are tracks
    events = generate(wanted // 90 + 1, seed=4242)
    if shape == "track":
        return [orjson.dumps(event) for event in events if event["type"] == "track"][:count]
    out = []
    for number in range(min(count, len(events) // BATCH_EVENTS)):
        batch = []
        for index, event in enumerate(events[number * BATCH_EVENTS : (number + 1) * BATCH_EVENTS]):
            event = {**event, "messageId": f"{shape}-{number}-{index}"}
            if shape == "device":
                event["anonymousId"] = f"device-{number}"
            else:
                event.pop("anonymousId", None)
                event["userId"] = f"user-{number}-{index}"
            batch.append(orjson.dumps(event))
        out.append(b'{"batch":[' + b",".join(batch) + b"]}")
    return out


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


async def queued_events(amqp_url: str, shards: int) -> tuple[int, int]:
    """(messages, events) in the shard queues, reading them out: a batch message holds many.

    Reads until every queue has been quiet for a second after the message count the
    broker reported (a quorum queue's count can trail its last confirmed publishes).
    """
    connection = await aio_pika.connect(amqp_url)
    counts = [0, 0]
    last = [asyncio.get_running_loop().time()]

    async def take(message: AbstractIncomingMessage) -> None:
        counts[0] += 1
        counts[1] += _events_in(orjson.loads(message.body))
        last[0] = asyncio.get_running_loop().time()

    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2000)
        expected = 0
        for name in GroupNames(EXCHANGE, "bench", shards).shard_queues:
            queue = await channel.declare_queue(name, passive=True)
            expected += queue.declaration_result.message_count or 0
            await queue.consume(take, no_ack=True)
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            quiet = asyncio.get_running_loop().time() - last[0] > 1.0
            if counts[0] >= expected and quiet:
                break
    finally:
        await connection.close()
    return counts[0], counts[1]


def _events_in(body: dict[str, Any]) -> int:
    if body.get("type") == "io.threadline.ingest.batch":
        return len(body["data"]["events"])
    return 1


async def purge(amqp_url: str, shards: int) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for name in GroupNames(EXCHANGE, "bench", shards).shard_queues:
            queue = await channel.declare_queue(name, passive=True)
            await queue.purge()
    finally:
        await connection.close()


@dataclass(frozen=True, slots=True)
class Measured:
    rate: float
    load: LoadResult
    messages: int
    events: int
    loadavg: tuple[float, float]


def measure_endpoint(
    current: Stack, path: str, payloads: Sequence[bytes], per_request: int, options: Options
) -> Measured:
    """Accepted events/s for one endpoint, and what the queues hold afterwards."""

    async def run() -> Measured:
        connection = await aio_pika.connect(current.amqp_url)
        try:
            channel = await connection.channel()
            async with bench_topology(channel, EXCHANGE, options.shards):
                url = current.url("profile") + path
                await asyncio.to_thread(run_wrk, url, payloads[:50], 2.0, options.connections)
                await purge(current.amqp_url, options.shards)
                before = os.getloadavg()[0]
                load = await asyncio.to_thread(
                    run_wrk, url, payloads, options.seconds, options.connections
                )
                after = os.getloadavg()[0]
                messages, events = await queued_events(current.amqp_url, options.shards)
        finally:
            await connection.close()
        accepted = (load.requests - load.errors) * per_request
        return Measured(accepted / load.seconds, load, messages, events, (before, after))

    return asyncio.run(run())


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float = 10.0
    connections: int = 32
    shards: int = 4
    workers: tuple[int, ...] = (1, 2)
    shapes: tuple[str, ...] = SHAPES


def profile_app() -> Starlette:
    """The profile API as ``threadline serve profile`` builds it (for ``uvicorn --factory``)."""
    from services.profile.bootstrap import create_app
    from shared.logging import setup_logging
    from shared.settings import Settings
    from shared.telemetry import setup_tracing

    settings = Settings()
    setup_logging("threadline-profile", settings.log_level)
    setup_tracing("threadline-profile", otlp_endpoint=settings.otlp_endpoint)
    return create_app(settings)


def serve_profile(current: Stack, workers: int) -> ChildProcess:
    """The profile API under uvicorn (uvloop, httptools) with ``workers`` processes."""
    port = current.ports["profile"]
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.collection:profile_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"]  # fmt: skip
    process = ChildProcess(
        f"profile-x{workers}",
        argv,
        current.env,
        current.workdir / "logs" / f"profile-{workers}.log",
    )
    current.processes.append(process)
    process.start()
    wait_ready(process, f"http://127.0.0.1:{port}/readyz")
    return process


ENDPOINTS = {
    "device": ("/v1/batch", "batch, 100 events of 1 device", BATCH_EVENTS, 300),
    "server": ("/v1/batch", "batch, 100 events of 100 users", BATCH_EVENTS, 300),
    "track": ("/v1/track", "track, 1 event", 1, 4000),
}


def run(options: Options | None = None) -> list[Figure]:
    options = options or Options()
    payloads = {shape: bodies(shape, ENDPOINTS[shape][3]) for shape in options.shapes}
    with stack(shards=str(options.shards)) as current:
        ceiling = asyncio.run(
            rabbit_confirmed_publish_rate(current.amqp_url, n=20000, shards=options.shards)
        )
        figures = []
        for workers in options.workers:
            process = serve_profile(current, workers)
            try:
                for shape in options.shapes:
                    figures.append(
                        _figure(current, shape, payloads[shape], workers, ceiling, options)
                    )
            finally:
                process.stop()
                current.processes.remove(process)
        return figures


def _figure(
    current: Stack,
    shape: str,
    payloads: Sequence[bytes],
    workers: int,
    ceiling: float,
    options: Options,
) -> Figure:
    path, label, per_request, _ = ENDPOINTS[shape]
    measured = measure_endpoint(current, path, payloads, per_request, options)
    load = measured.load
    counted = (load.requests - load.errors) * per_request
    if measured.events < counted:
        raise BenchmarkError(
            f"{path} ({shape}): {counted} events were acknowledged but only {measured.events} "
            "reached the queues — a 200 must mean the broker has the event"
        )
    return Figure(
        f"collection {path} ({label}), {workers} worker{'s' if workers > 1 else ''}",
        measured.rate,
        "events/s",
        "RabbitMQ confirmed publish",
        ceiling,
        note=f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, {load.errors} errors, "
        f"{measured.events} events in {measured.messages} messages queued, "
        f"load avg {measured.loadavg[0]:.1f}->{measured.loadavg[1]:.1f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    args = parser.parse_args()
    options = Options(
        seconds=args.seconds,
        connections=args.connections,
        workers=tuple(args.workers),
        shapes=tuple(args.shapes),
    )
    print(f"load average before: {os.getloadavg()}")
    print_figures(run(options))


if __name__ == "__main__":
    main()
