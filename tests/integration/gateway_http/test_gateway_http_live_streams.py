"""WebSocket and SSE subscriptions through a live uvicorn (websockets, httptools, real sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from tests.integration.gateway_http.gateway_http_apps import serve
from tests.unit.gateway_http.gateway_http_fakes import bearer, token

pytestmark = pytest.mark.slow

PROTOCOL = ["graphql-transport-ws"]


@asynccontextmanager
async def connect(base_url: str) -> AsyncIterator[AsyncWebSocketSession]:
    url = base_url.replace("http", "ws", 1) + "/graphql"
    async with httpx.AsyncClient() as client:
        session: AsyncWebSocketSession
        async with aconnect_ws(url, client, subprotocols=PROTOCOL) as session:
            yield session


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("secured_app") as base:
        yield base


async def test_live_ws_subscription_round_trip(base_url: str) -> None:
    async with connect(base_url) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send_json({"type": "connection_init", "payload": {"token": token("admin")}})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        query = "subscription { ticks(count: 2) }"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        messages = [await ws.receive_json(timeout=5) for _ in range(3)]
        await ws.send_json({"type": "ping"})
        assert await ws.receive_json(timeout=5) == {"type": "pong"}
    assert messages == [
        {"type": "next", "id": "1", "payload": {"data": {"ticks": 0}}},
        {"type": "next", "id": "1", "payload": {"data": {"ticks": 1}}},
        {"type": "complete", "id": "1"},
    ]


@pytest.mark.parametrize(
    ("payload", "code"),
    [({"token": "forged"}, 4403), ({}, 4403)],
)
async def test_live_ws_refused_credentials_close_with_4403(
    base_url: str, payload: dict[str, str], code: int
) -> None:
    async with connect(base_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as caught:
            await ws.receive_json(timeout=5)
    assert caught.value.code == code
    assert caught.value.reason.startswith("Forbidden")


async def test_live_ws_long_operation_ids_still_get_a_proper_4409(base_url: str) -> None:
    same = "é" * 100
    query = {"query": "subscription { ticks(count: 100, delay: 0.05) }"}
    async with connect(base_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json({"id": same, "type": "subscribe", "payload": query})
        await ws.send_json({"id": same, "type": "subscribe", "payload": query})
        code = None
        for _ in range(200):
            try:
                await ws.receive_json(timeout=5)
            except WebSocketDisconnect as closed:
                code = closed.code
                break
    assert code == 4409


async def test_live_sse_streams_events_as_they_happen(base_url: str) -> None:
    query = "subscription { ticks(count: 3, delay: 0.3) }"
    lines: list[str] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "POST",
            f"{base_url}/graphql",
            content=orjson.dumps({"query": query}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            lines.append(line)
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert events == ["next", "next", "next", "complete"]
    assert data == ['{"data":{"ticks":0}}', '{"data":{"ticks":1}}', '{"data":{"ticks":2}}']
    assert ":" in lines  # keepalive comments while the source was idle


def active_subscriptions(text: str, transport: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'threadline_gateway_active_subscriptions{{transport="{transport}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_live_sse_client_going_away_ends_the_subscription(base_url: str) -> None:
    query = "subscription { ticks(count: 1000, delay: 0.05) }"
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream(
            "POST",
            f"{base_url}/graphql",
            content=orjson.dumps({"query": query}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: next"):
                    break
            during = active_subscriptions((await client.get(f"{base_url}/metrics")).text, "sse")
        after = during
        for _ in range(100):
            after = active_subscriptions((await client.get(f"{base_url}/metrics")).text, "sse")
            if after == 0:
                break
            await asyncio.sleep(0.05)
    assert during == 1
    assert after == 0
