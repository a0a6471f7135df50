"""Sending simulated events: /v1/batch chunks with the write key, retried while unavailable."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from threadline.simulate import MAX_BATCH_BYTES, SimulationError, batches, send
from threadline.simulation import generate


class FakeCollector:
    """Records what arrives; answers 503 for the first ``unavailable`` requests."""

    def __init__(self, unavailable: int = 0, status: int = 200) -> None:
        self.unavailable = unavailable
        self.status = status
        self.batches: list[list[dict[str, Any]]] = []
        self.auth: set[str] = set()
        self.app = Starlette(routes=[Route("/v1/batch", self.batch, methods=["POST"])])

    async def batch(self, request: Request) -> JSONResponse:
        if self.unavailable > 0:
            self.unavailable -= 1
            return JSONResponse({"error": "broker unavailable"}, status_code=503)
        self.auth.add(request.headers["authorization"])
        if self.status != 200:
            return JSONResponse({"error": "unknown write key"}, status_code=self.status)
        body = orjson.loads(await request.body())
        self.batches.append(body["batch"])
        return JSONResponse({"success": True})


def _client(collector: FakeCollector) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=collector.app), base_url="http://t")


async def test_every_event_arrives_once_in_batches_of_at_most_100_with_basic_auth() -> None:
    payloads = generate(4, 3)
    collector = FakeCollector()
    async with _client(collector) as client:
        report = await send(
            payloads, url="http://t", write_key="wk_test", concurrency=3, client=client
        )
    received = [event for batch in collector.batches for event in batch]
    assert sorted(e["messageId"] for e in received) == sorted(p["messageId"] for p in payloads)
    assert all(len(batch) <= 100 for batch in collector.batches)
    assert report.events == len(payloads)
    assert report.batches == len(collector.batches)
    assert report.rejected == 0
    assert collector.auth == {"Basic " + base64.b64encode(b"wk_test:").decode()}


async def test_sending_retries_while_the_api_answers_503() -> None:
    payloads = generate(1, 3)
    collector = FakeCollector(unavailable=2)
    async with _client(collector) as client:
        await send(payloads, url="http://t", write_key="k", concurrency=1, client=client)
    assert sum(len(batch) for batch in collector.batches) == len(payloads)


async def test_a_refused_write_key_stops_the_simulation_with_the_reason() -> None:
    collector = FakeCollector(status=401)
    async with _client(collector) as client:
        with pytest.raises(SimulationError, match="401"):
            await send(generate(1, 3), url="http://t", write_key="bad", client=client)


def test_batches_stay_under_the_api_size_limit() -> None:
    big = [{"type": "track", "event": "Big", "properties": {"blob": "x" * 20_000}}] * 60
    bodies = batches(big)
    assert len(bodies) > 1
    assert all(len(body) <= MAX_BATCH_BYTES + 1024 for body in bodies)
    assert sum(len(orjson.loads(body)["batch"]) for body in bodies) == 60
