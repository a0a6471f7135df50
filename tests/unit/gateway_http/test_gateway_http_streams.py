"""Subscriptions over WebSocket (graphql-transport-ws) and over SSE (distinct connections)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from gateway.http import create_app
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, bearer, settings, token

PROTOCOL = ["graphql-transport-ws"]


@asynccontextmanager
async def connect(
    engine: FakeEngine,
    subprotocols: list[str] | None = PROTOCOL,
    headers: dict[str, str] | None = None,
    **overrides: Any,
) -> AsyncIterator[AsyncWebSocketSession]:
    app = create_app(engine, settings(**overrides))
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app)) as client:
        session: AsyncWebSocketSession
        async with aconnect_ws(
            "http://gateway/graphql", client, subprotocols=subprotocols, headers=headers or {}
        ) as session:
            yield session


async def init(ws: AsyncWebSocketSession, payload: dict[str, Any] | None = None) -> None:
    await ws.send_json({"type": "connection_init", "payload": payload or bearer()})
    assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}


async def closed_with(ws: AsyncWebSocketSession) -> int:
    """Read (skipping messages already in flight) until the server closes; its close code."""
    for _ in range(1000):
        try:
            await ws.receive_json(timeout=5)
        except WebSocketDisconnect as closed:
            return int(closed.code)
    raise AssertionError("the server never closed the connection")


async def test_ws_subscription_streams_next_messages_then_complete() -> None:
    engine = FakeEngine()
    async with connect(engine) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await init(ws, {"Authorization": f"Bearer {token('admin')}"})
        query = "subscription { ticks(count: 3) }"
        await ws.send_json({"id": "s1", "type": "subscribe", "payload": {"query": query}})
        received = [await ws.receive_json(timeout=5) for _ in range(4)]
    assert received == [
        {"type": "next", "id": "s1", "payload": {"data": {"ticks": 0}}},
        {"type": "next", "id": "s1", "payload": {"data": {"ticks": 1}}},
        {"type": "next", "id": "s1", "payload": {"data": {"ticks": 2}}},
        {"type": "complete", "id": "s1"},
    ]
    assert engine.subscribed[0][1].scopes == frozenset({"admin"})


async def test_ws_queries_answer_with_one_next_and_complete() -> None:
    async with connect(FakeEngine()) as ws:
        await init(ws)
        await ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": "{ hello }"}})
        assert await ws.receive_json(timeout=5) == {
            "type": "next",
            "id": "q",
            "payload": {"data": {"hello": "hello world"}},
        }
        assert await ws.receive_json(timeout=5) == {"type": "complete", "id": "q"}


async def test_ws_ping_gets_pong() -> None:
    async with connect(FakeEngine()) as ws:
        await ws.send_json({"type": "ping", "payload": {"n": 1}})
        assert await ws.receive_json(timeout=5) == {"type": "pong", "payload": {"n": 1}}


async def test_ws_credentials_may_come_from_the_upgrade_request_headers() -> None:
    async with connect(FakeEngine(), headers=bearer()) as ws:
        await ws.send_json({"type": "connection_init"})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}


async def test_ws_invalid_operations_get_an_error_message_and_the_connection_stays() -> None:
    async with connect(FakeEngine(), max_depth=2) as ws:
        await init(ws)
        await ws.send_json({"id": "bad", "type": "subscribe", "payload": {"query": "{ nope }"}})
        invalid = await ws.receive_json(timeout=5)
        deep = '{ customer(id: "1") { friends { id } } }'
        await ws.send_json({"id": "deep", "type": "subscribe", "payload": {"query": deep}})
        too_deep = await ws.receive_json(timeout=5)
        await ws.send_json({"id": "ok", "type": "subscribe", "payload": {"query": "{ hello }"}})
        ok = await ws.receive_json(timeout=5)
    assert invalid["type"] == "error"
    assert invalid["id"] == "bad"
    assert "Cannot query field 'nope'" in invalid["payload"][0]["message"]
    assert too_deep["payload"][0]["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
    assert ok["payload"] == {"data": {"hello": "hello world"}}


async def test_ws_client_complete_stops_the_subscription() -> None:
    engine = FakeEngine()
    query = "subscription { ticks(count: 1000, delay: 0.01) }"
    async with connect(engine) as ws:
        await init(ws)
        await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
        assert (await ws.receive_json(timeout=5))["type"] == "next"
        await ws.send_json({"id": "s", "type": "complete"})
        await ws.send_json({"type": "ping"})
        while (message := await ws.receive_json(timeout=5))["type"] != "pong":
            assert message["type"] == "next"  # events already in flight may still arrive
        assert engine.closed_streams == 1


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}}], 4401),
        (["not json"], 4400),
        ([{"type": "nonsense"}], 4400),
        ([{"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}], 4403),
        ([{"type": "connection_init"}], 4403),
    ],
)
async def test_ws_protocol_violations_close_with_the_protocol_codes(
    messages: list[Any], code: int
) -> None:
    engine = FakeEngine()
    async with connect(engine) as ws:
        for message in messages:
            if isinstance(message, str):
                await ws.send_text(message)
            else:
                await ws.send_json(message)
        assert await closed_with(ws) == code
    assert engine.prepared == []


async def test_ws_second_init_is_4429() -> None:
    async with connect(FakeEngine()) as ws:
        await init(ws)
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await closed_with(ws) == 4429


async def test_ws_duplicate_operation_ids_are_4409() -> None:
    query = {"query": "subscription { ticks(count: 100, delay: 0.05) }"}
    same = "é" * 100  # the close reason quoting it must still fit a close frame
    async with connect(FakeEngine()) as ws:
        await init(ws)
        await ws.send_json({"id": same, "type": "subscribe", "payload": query})
        await ws.send_json({"id": same, "type": "subscribe", "payload": query})
        assert await closed_with(ws) == 4409


async def test_ws_without_init_in_time_is_4408() -> None:
    async with connect(FakeEngine(), ws_connection_init_timeout_seconds=0.05) as ws:
        assert await closed_with(ws) == 4408


async def test_ws_without_the_subprotocol_is_4406() -> None:
    async with connect(FakeEngine(), subprotocols=None) as ws:
        assert await closed_with(ws) == 4406


def parse_sse(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append((fields["event"], fields.get("data", "")))
    return events


def sse_client(engine: FakeEngine, **overrides: Any) -> httpx.AsyncClient:
    app = create_app(engine, settings(**overrides))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def test_sse_subscription_streams_next_events_then_complete() -> None:
    engine = FakeEngine()
    async with sse_client(engine) as client:
        response = await client.post(
            "/graphql",
            content=orjson.dumps({"query": "subscription { ticks(count: 2) }"}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert parse_sse(response.text) == [
        ("next", '{"data":{"ticks":0}}'),
        ("next", '{"data":{"ticks":1}}'),
        ("complete", ""),
    ]


async def test_sse_over_get_and_for_queries_sends_one_result() -> None:
    async with sse_client(FakeEngine()) as client:
        response = await client.get(
            "/graphql",
            params={"query": "{ hello }"},
            headers={"accept": "text/event-stream", **bearer()},
        )
    assert parse_sse(response.text) == [
        ("next", '{"data":{"hello":"hello world"}}'),
        ("complete", ""),
    ]


async def test_sse_event_source_failure_ends_the_stream_with_an_error() -> None:
    async with sse_client(FakeEngine()) as client:
        response = await client.post(
            "/graphql",
            content=orjson.dumps({"query": "subscription { failing }"}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        )
    events = parse_sse(response.text)
    assert events[0] == ("next", '{"data":{"failing":1}}')
    assert events[1][0] == "next"
    assert "INTERNAL_SERVER_ERROR" in events[1][1]
    assert events[-1] == ("complete", "")


async def test_sse_refusals_are_plain_http_errors_before_any_stream() -> None:
    engine = FakeEngine()
    async with sse_client(engine) as client:
        unauthenticated = await client.post(
            "/graphql",
            content=orjson.dumps({"query": "subscription { ticks(count: 2) }"}),
            headers={"content-type": "application/json", "accept": "text/event-stream"},
        )
        invalid = await client.post(
            "/graphql",
            content=orjson.dumps({"query": "subscription { nope }"}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        )
    assert unauthenticated.status_code == 401
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("application/json")
    assert "Cannot query field 'nope'" in invalid.json()["errors"][0]["message"]
    assert engine.subscribed == []


async def test_sse_subscription_with_bad_variables_reports_them_in_the_stream() -> None:
    query = "subscription S($n: Int!) { ticks(count: $n) }"
    async with sse_client(FakeEngine()) as client:
        response = await client.post(
            "/graphql",
            content=orjson.dumps({"query": query, "variables": {"n": "many"}}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        )
    events = parse_sse(response.text)
    assert events[0][0] == "next"
    assert "Variable '$n'" in orjson.loads(events[0][1])["errors"][0]["message"]
    assert events[-1] == ("complete", "")


async def test_ws_subscription_with_bad_variables_gets_an_error_message() -> None:
    query = "subscription S($n: Int!) { ticks(count: $n) }"
    async with connect(FakeEngine()) as ws:
        await init(ws)
        payload = {"query": query, "variables": {"n": "many"}}
        await ws.send_json({"id": "v", "type": "subscribe", "payload": payload})
        message = await ws.receive_json(timeout=5)
    assert message["type"] == "error"
    assert message["id"] == "v"
    assert "Variable '$n'" in message["payload"][0]["message"]


async def test_sse_subscriptions_may_use_get_as_eventsource_does() -> None:
    async with sse_client(FakeEngine()) as client:
        response = await client.get(
            "/graphql",
            params={"query": "subscription { ticks(count: 1) }"},
            headers={"accept": "text/event-stream", **bearer()},
        )
    assert parse_sse(response.text) == [("next", '{"data":{"ticks":0}}'), ("complete", "")]


async def test_idle_sse_streams_get_keepalive_comments() -> None:
    query = "subscription { ticks(count: 2, delay: 0.15) }"
    async with sse_client(FakeEngine(), sse_keepalive_seconds=0.05) as client:
        response = await client.post(
            "/graphql",
            content=orjson.dumps({"query": query}),
            headers={"content-type": "application/json", "accept": "text/event-stream", **bearer()},
        )
    assert response.text.startswith(":\n\n")
    assert [event for event, _ in parse_sse(response.text)] == ["next", "next", "complete"]


async def test_ws_client_disconnect_closes_the_engines_streams() -> None:
    engine = FakeEngine()
    query = "subscription { ticks(count: 1000, delay: 0.01) }"
    async with connect(engine) as ws:
        await init(ws)
        await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
        assert (await ws.receive_json(timeout=5))["type"] == "next"
    for _ in range(200):
        if engine.closed_streams:
            break
        await asyncio.sleep(0.01)
    assert engine.closed_streams == 1
