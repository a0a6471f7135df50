"""A 50-way race of merges across worker processes on the real MongoDB and RabbitMQ.

Fifty devices of one person each became a customer of their own (browsing,
anonymous). Then the person signs in on all fifty at once: every identify links
its device's customer to the one email, so every one of them must merge into a
single customer. Four OS processes (``merge_race_worker.py``) resolve the
identifies concurrently against one database and publish through RabbitMQ; the
outcome must be one customer with every trait, identifier and event.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.profile.adapters.mongo import (
    CUSTOMERS,
    EVENTS,
    IDENTITIES,
    INDEXES,
    MongoProfileStore,
)
from services.profile.adapters.mongo_merge import MERGE_LOG
from services.profile.domain.resolution_rules import ResolutionRules
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus
from tests.integration.services.services_support import scratch_database, unique
from tests.unit.profile.profile_events import at, segment

# 50 merges into one customer from 4 processes take about 4 minutes under CI coverage:
# a timeout of its own, so a slow machine fails this test, not a cascade after it.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

WORKER = Path(__file__).with_name("merge_race_worker.py")
ROOT = Path(__file__).resolve().parents[3]
DEVICES = 50
PROCESSES = 4
LIMITS = {"user_id": "1", "anonymous_id": f"{2 * DEVICES}/7d"}


def _spawn(infra: Any, database: str, exchange: str, events: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), infra.mongodb_url, infra.amqp_url, exchange, database,
         str(events), json.dumps(LIMITS)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _expect(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    got = process.stdout.readline().strip()
    assert got == line, f"worker said {got!r}, exit code {process.poll()}"


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


async def test_fifty_simultaneous_sign_ins_on_fifty_devices_merge_into_one_customer(
    infra: Any, tmp_path: Path
) -> None:
    run = unique("race")
    email = f"{run}@example.org"
    browsing = [
        segment("page", f"{run}-page-{n}", anonymousId=f"{run}-device-{n}",
                context={"traits": {f"seen{n}": n}}, timestamp=at(9, n % 60))
        for n in range(DEVICES)
    ]  # fmt: skip
    sign_ins = [
        segment("identify", f"{run}-login-{n}", anonymousId=f"{run}-device-{n}",
                traits={"email": email, f"device{n}": n}, timestamp=at(10, n % 60))
        for n in range(DEVICES)
    ]  # fmt: skip
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoProfileStore(database)
        rules = ResolutionRules.of(limits=LIMITS)
        for event in browsing:
            await handle_ingested([event], store=store, publisher=InMemoryBus(), rules=rules)
        assert await database[CUSTOMERS].count_documents({}) == DEVICES

        processes = []
        try:
            for worker in range(PROCESSES):
                share = tmp_path / f"events-{worker}.jsonl"
                share.write_text(
                    "\n".join(e.to_json().decode() for e in sign_ins[worker::PROCESSES])
                )
                processes.append(_spawn(infra, database.name, unique("race"), share))
            for process in processes:
                await asyncio.to_thread(_expect, process, "ready")
            for process in processes:  # all at once
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            for process in processes:
                await asyncio.to_thread(_expect, process, "done")
        finally:
            for process in processes:
                await asyncio.to_thread(_stop, process)

        roots = [doc async for doc in database[CUSTOMERS].find({"mergedInto": {"$exists": False}})]
        assert len(roots) == 1, f"one person is {len(roots)} customers"
        [root] = roots
        survivor = root["_id"]
        owners = {doc["_id"]: doc["customerId"] async for doc in database[IDENTITIES].find({})}
        assert owners == {
            f"email:{email}": survivor,
            **{f"anonymous_id:{run}-device-{n}": survivor for n in range(DEVICES)},
        }, "an identifier was lost or left on a merged-away customer"
        stored = {doc["_id"]: doc["customerId"] async for doc in database[EVENTS].find({})}
        assert stored == {e.id: survivor for e in browsing + sign_ins}, "an event was lost"
        traits = {name: entry["value"] for name, entry in root["traits"].items()}
        assert traits == {
            "email": email,
            **{f"seen{n}": n for n in range(DEVICES)},
            **{f"device{n}": n for n in range(DEVICES)},
        }, "a trait was lost"
        assert len(root["mergedIds"]) == DEVICES - 1
        unfinished = await database[CUSTOMERS].count_documents(
            {"mergedInto": {"$exists": True}, "mergeDone": {"$ne": True}}
        )
        assert unfinished == 0
        assert await database[MERGE_LOG].count_documents({"kind": "merged", "status": "done"}) >= (
            DEVICES - 1
        )
        assert await database[MERGE_LOG].count_documents({"status": "pending"}) == 0
