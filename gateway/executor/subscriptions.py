"""graphql-transport-ws client for subscription root fields owned by a subgraph."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from shared.errors import ThreadlineError

PROTOCOL = "graphql-transport-ws"


class SubscriptionError(ThreadlineError):
    """The subgraph refused or broke the subscription."""


def websocket_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://") :]
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://") :]
    return http_url


async def subgraph_events(
    url: str,
    query: str,
    variables: Mapping[str, Any],
    headers: Mapping[str, str],
) -> AsyncIterator[dict[str, Any]]:
    """Yield each ``next`` payload (a GraphQL response) until the subgraph completes."""
    try:
        async with connect(
            websocket_url(url),
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            additional_headers=dict(headers),
            open_timeout=10,
        ) as ws:
            await ws.send(
                orjson.dumps({"type": "connection_init", "payload": dict(headers)}).decode()
            )
            while True:
                message = orjson.loads(await ws.recv())
                if message.get("type") == "connection_ack":
                    break
                if message.get("type") == "ping":
                    await ws.send('{"type":"pong"}')
            subscribe = {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": query, "variables": dict(variables)},
            }
            await ws.send(orjson.dumps(subscribe).decode())
            completed = False
            try:
                while True:
                    message = orjson.loads(await ws.recv())
                    kind = message.get("type")
                    if kind == "next":
                        yield message.get("payload") or {}
                    elif kind == "error":
                        yield {"data": None, "errors": message.get("payload") or []}
                        completed = True
                        return
                    elif kind == "complete":
                        completed = True
                        return
                    elif kind == "ping":
                        await ws.send('{"type":"pong"}')
            finally:
                if not completed:
                    with contextlib.suppress(WebSocketException):
                        await ws.send('{"id":"1","type":"complete"}')
    except (OSError, WebSocketException) as exc:
        raise SubscriptionError(f"subscription to {url} failed: {exc}") from exc
