"""Shared pieces of the services' integration tests: databases, settings, in-process servers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from shared.mongo import AsyncDatabase, Document, Index, Mongo
from shared.runtime import QuietServer
from shared.settings import Settings
from threadline.devinfra import free_port

JWT_SECRET = "services-integration-secret-long-enough-for-hs256"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def scratch_database(
    url: str, indexes: tuple[Index, ...] = ()
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A fresh database with the adapter's indexes, dropped afterwards."""
    mongo = Mongo(url)
    name = unique("svc_test")
    try:
        await mongo.ensure_indexes(name, indexes)
        yield mongo.database(name)
    finally:
        await mongo.client.drop_database(name)
        await mongo.close()


def slice_settings(infra: Any, **overrides: Any) -> Settings:
    """Settings for one test: free ports (workers' health on port + 100), the default topology.

    The consumer groups' queues are named by group only (not by exchange), and their
    arguments (retry delay, dead-letter exchange) must match on every declaration, so
    these tests declare them exactly as the e2e stack does: default exchange and shard
    count, a 200 ms retry delay. Data is kept apart by unique ids, not by names.
    """
    values: dict[str, Any] = {
        "amqp_url": infra.amqp_url,
        "mongodb_url": infra.mongodb_url,
        "jwt_secret": JWT_SECRET,
        "write_keys": ("services-write-key",),
        "retry_delay_ms": 200,
        "batch_linger_ms": 5,
        "profile_port": free_port(),
        "journey_port": free_port(),
        "scoring_port": free_port(),
        # The reconciliation scans the whole (shared) profile database: only the tests
        # of it turn it on.
        "hygiene_interval_seconds": 0,
        **overrides,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, port: int) -> AsyncIterator[str]:
    """Serve ``app`` (its lifespan included) on 127.0.0.1:port; yields the base URL."""
    server = QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"server on port {port} stopped while starting")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
