"""kill -9 of a consumer process mid-stream loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.mongo import Mongo
from shared.settings import Settings
from tests.integration.bus.bus_helpers import ConnectBus, bus_settings, eventually, track, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def spawn_worker(settings: Settings, group: str, database: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            settings.amqp_url,
            settings.mongodb_url,
            settings.exchange,
            group,
            database,
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the worker consumes
    assert line.strip() == "ready", f"worker failed to start (exit {process.poll()})"
    return process


def stop_worker(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


async def test_killed_consumer_process_resumes_without_loss_or_double_effect(
    infra, connect_bus: ConnectBus, mongo: Mongo
) -> None:
    settings = bus_settings(infra)
    group = unique("crash")
    database = unique("bus_crash")
    db = mongo.database(database)
    customers = [f"customer-{i}" for i in range(50)]
    per_customer = 40
    events = [track(c, seq) for seq in range(per_customer) for c in customers]
    total = len(events)

    publisher = await connect_bus(settings)
    worker = await asyncio.to_thread(spawn_worker, settings, group, database)
    try:
        killed = asyncio.Event()

        async def stream() -> None:
            # Half before the kill; the rest only after it, while the worker is
            # dead and once it is back, so the kill always lands mid-stream.
            for start in range(0, total, 50):
                if start == total // 2:
                    await killed.wait()
                await publisher.publish(events[start : start + 50])
                await asyncio.sleep(0.02)

        streaming = asyncio.create_task(stream())

        async def applied_at_least(count: int) -> bool:
            docs = await db["effects"].find({}, {"applied": 1}).to_list(None)
            return bool(sum(doc["applied"] for doc in docs) >= count)

        await eventually(lambda: applied_at_least(total // 8), what="an eighth applied")
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait, 10)
        killed.set()
        stop_worker(worker)

        worker = await asyncio.to_thread(spawn_worker, settings, group, database)
        await streaming
        await eventually(lambda: applied_at_least(total), limit=120, what="every event")
        await asyncio.sleep(1.0)  # let any stray redelivery land before counting
    finally:
        stop_worker(worker)

    docs = {doc["_id"]: doc async for doc in db["effects"].find({})}
    assert set(docs) == set(customers)
    for customer in customers:
        doc = docs[customer]
        assert doc["applied"] == per_customer, customer
        assert doc["seqs"] == list(range(per_customer)), customer  # order held too
        assert len(set(doc["events"])) == per_customer
    deliveries = await db["deliveries"].find_one({"_id": "all"})
    assert deliveries is not None
    assert deliveries["n"] >= total
