"""Helpers shared by the bus integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from shared.settings import Settings

ConnectBus = Callable[..., Awaitable[Bus]]
"""The ``connect_bus`` fixture: ``await connect_bus(settings, with_inbox=None)``."""


def bus_settings(infra: Any, **overrides: object) -> Settings:
    """Settings isolated to one test: its own exchange, small fast batches and retries."""
    values: dict[str, object] = {
        "amqp_url": infra.amqp_url,
        "mongodb_url": infra.mongodb_url,
        "exchange": f"test.{uuid.uuid4().hex[:10]}",
        "shards": 4,
        "prefetch": 64,
        "batch_size": 50,
        "batch_linger_ms": 5,
        "max_attempts": 3,
        "retry_delay_ms": 100,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def unique(name: str) -> str:
    """A consumer-group or database name no other test uses (queues are named by group)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def track(customer: str, seq: int, **data: object) -> CloudEvent:
    return CloudEvent(
        type="io.threadline.ingest.track",
        source="threadline/test",
        data={"customer": customer, "seq": seq, **data},
        partitionkey=customer,
    )


async def wait_until(condition: Callable[[], bool], *, limit: float = 30.0, what: str = "") -> None:
    """Poll until ``condition()``; a bounded wait, so a hang fails instead of blocking."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f}s waiting for {what or condition}")
        await asyncio.sleep(0.05)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, limit: float = 30.0, what: str = ""
) -> None:
    """Like :func:`wait_until` for a condition that must ask the broker."""
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f}s waiting for {what or check}")
        await asyncio.sleep(0.1)
