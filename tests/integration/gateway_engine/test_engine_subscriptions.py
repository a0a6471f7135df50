"""Subscriptions: root field over graphql-transport-ws, entity fields resolved per event."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from graphql import ExecutionResult, parse, subscribe
from websockets.asyncio.server import ServerConnection, serve

from gateway.engine import GraphQLRequest, RequestContext
from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import FIXTURES
from tests.unit.gateway_engine.engine_shop import make_shop
from tests.unit.gateway_engine.engine_subgraph import Subgraph


async def _serve_transport_ws(subgraph: Subgraph, ws: ServerConnection) -> None:
    """A minimal graphql-transport-ws server over a test subgraph."""
    init = orjson.loads(await ws.recv())
    assert init["type"] == "connection_init"
    subgraph.requests.append({"connection_init": init.get("payload")})
    await ws.send(orjson.dumps({"type": "connection_ack"}).decode())
    message = orjson.loads(await ws.recv())
    assert message["type"] == "subscribe"
    payload = message["payload"]
    subgraph.requests.append(payload)
    stream: Any = subscribe(
        subgraph.schema(),
        parse(payload["query"]),
        root_value=subgraph.root,
        variable_values=payload.get("variables"),
    )
    if inspect.isawaitable(stream):
        stream = await stream
    assert not isinstance(stream, ExecutionResult), stream
    async for result in stream:
        event = {"id": message["id"], "type": "next", "payload": result.formatted}
        await ws.send(orjson.dumps(event).decode())
    await ws.send(orjson.dumps({"id": message["id"], "type": "complete"}).decode())
    await ws.wait_closed()


@pytest.fixture
async def served() -> AsyncIterator[tuple[dict[str, Subgraph], str]]:
    shop = make_shop()

    async def handler(ws: ServerConnection) -> None:
        await _serve_transport_ws(shop["reviews"], ws)

    async with serve(handler, "127.0.0.1", 0, subprotocols=["graphql-transport-ws"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        yield shop, f"http://127.0.0.1:{port}/graphql"


async def test_subscription_events_get_entity_fields_from_other_subgraphs(
    served: tuple[dict[str, Subgraph], str],
) -> None:
    import httpx

    shop, url = served
    mounts = {
        f"http://{s.name}.test": httpx.ASGITransport(app=s)  # type: ignore[arg-type]
        for s in shop.values()
    }
    engine = FederationEngine(
        (FIXTURES / "shop.graphql").read_text(),
        {"reviews": url},
        client=httpx.AsyncClient(mounts=mounts),
    )
    query = """subscription OnReview($upc: String) {
      reviewAdded(upc: $upc) { body author { name } product { name inStock } }
    }"""
    request = GraphQLRequest(query=query, variables={"upc": "1"})
    prepared = engine.prepare(request)

    events: list[dict[str, Any]] = [
        event
        async for event in engine.subscribe(
            prepared, request, RequestContext(headers={"authorization": "Bearer t"})
        )
    ]

    assert events == [
        {
            "data": {
                "reviewAdded": {
                    "body": "Love it",
                    "author": {"name": "Ada Lovelace"},
                    "product": {"name": "Table", "inStock": True},
                }
            }
        },
        {
            "data": {
                "reviewAdded": {
                    "body": "Too big",
                    "author": {"name": "Bob Builder"},
                    "product": {"name": "Table", "inStock": True},
                }
            }
        },
    ]
    init, sent = shop["reviews"].requests
    assert init["connection_init"] == {"authorization": "Bearer t"}
    assert sent["query"].startswith("subscription OnReview__reviews__0($upc:String){reviewAdded")
    assert sent["variables"] == {"upc": "1"}
    assert len(shop["accounts"].requests) == 2  # one entity fetch per event
