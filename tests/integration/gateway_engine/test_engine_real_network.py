"""The engine's own connection pool against subgraphs served by uvicorn on free ports."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from gateway.engine import GraphQLRequest, RequestContext
from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import FIXTURES
from tests.unit.gateway_engine.engine_shop import make_shop
from tests.unit.gateway_engine.engine_subgraph import Subgraph


def _listening_socket() -> socket.socket:
    """Bound and listening before uvicorn starts: early connections wait in the backlog."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@pytest.fixture
async def served() -> AsyncIterator[tuple[dict[str, Subgraph], dict[str, str]]]:
    shop = make_shop()
    servers: list[uvicorn.Server] = []
    tasks = []
    urls: dict[str, str] = {}
    for name in ("products", "inventory", "pricing", "reviews"):
        sock = _listening_socket()
        config = uvicorn.Config(shop[name], log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        servers.append(server)
        tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        urls[name] = f"http://127.0.0.1:{sock.getsockname()[1]}/graphql"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    urls["accounts"] = f"http://127.0.0.1:{closed_port}/graphql"  # nobody listens there
    yield shop, urls
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)


async def test_engine_pool_fetches_over_real_http_and_reports_refused_subgraphs(
    served: tuple[dict[str, Subgraph], dict[str, str]],
) -> None:
    shop, urls = served
    engine = FederationEngine((FIXTURES / "shop.graphql").read_text(), urls)
    query = """{ topProducts(first: 2) {
      name shippingEstimate(zone: "EU") reviews { body author { username name } } } }"""
    request = GraphQLRequest(query=query)
    try:
        result = await engine.execute(
            engine.prepare(request), request, RequestContext(headers={"x-request-id": "abc"})
        )
    finally:
        await engine.aclose()

    assert result["data"] == {
        "topProducts": [
            {
                "name": "Table",
                "shippingEstimate": 40,
                "reviews": [
                    {"body": "Love it", "author": {"username": "ada", "name": None}},
                    {"body": "Too big", "author": {"username": "bob", "name": None}},
                ],
            },
            {
                "name": "Couch",
                "shippingEstimate": 80,
                "reviews": [{"body": "Comfy", "author": {"username": "ada", "name": None}}],
            },
        ]
    }
    [error] = result["errors"]
    assert error["message"].startswith("HTTP fetch failed from 'accounts': ConnectError")
    assert error["extensions"] == {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": "accounts"}
    assert engine.stats.fetch_errors == {"accounts": 1}
    assert engine.stats.fetches == {
        "products": 1,
        "pricing": 1,
        "inventory": 1,
        "reviews": 1,
        "accounts": 1,
    }
    assert shop["products"].requests[0]["headers"]["x-request-id"] == "abc"
