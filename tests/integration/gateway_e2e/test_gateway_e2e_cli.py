"""``threadline gateway --supergraph FILE --port N`` as an operator runs it, in its own process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.gateway_e2e.e2e_client import bearer, eventually, post, ws_session
from tests.integration.gateway_e2e.e2e_stack import Subgraphs
from tests.integration.gateway_e2e.e2e_subgraph_app import JWT_SECRET
from threadline.devinfra import free_port

pytestmark = pytest.mark.slow

THREADLINE = Path(sys.executable).with_name("threadline")
ROOT = Path(__file__).resolve().parents[3]


@asynccontextmanager
async def threadline_gateway(tmp_path: Path, *args: str) -> AsyncIterator[str]:
    """``threadline gateway ARGS --port N`` in its own process; yields its base URL."""
    port = free_port()
    log = (tmp_path / "gateway.log").open("wb")
    env = {
        **os.environ,
        "THREADLINE_JWT_SECRET": JWT_SECRET,
        "THREADLINE_DATA_DIR": str(tmp_path / "data"),
        "THREADLINE_ENVIRONMENT": "development",
    }
    process = await asyncio.create_subprocess_exec(
        str(THREADLINE),
        "gateway",
        *args,
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                if process.returncode is not None:
                    break
                try:
                    if (await client.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("threadline gateway did not get ready in 30 s")
        if process.returncode is not None:
            raise AssertionError(
                f"threadline gateway exited with {process.returncode}: "
                f"{(tmp_path / 'gateway.log').read_text()[-2000:]}"
            )
        yield base
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        log.close()


@pytest.fixture
async def cli_gateway(supergraph_sdl: str, tmp_path: Path) -> AsyncIterator[str]:
    """The CLI serving the supergraph that compose() made from the live subgraphs."""
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(supergraph_sdl)
    async with threadline_gateway(tmp_path, "--supergraph", str(supergraph)) as base:
        yield base


async def test_cli_gateway_serves_a_composed_supergraph_file(
    cli_gateway: str, subgraphs: Subgraphs
) -> None:
    query = (
        '{ product(upc: "p2") { name price shippingEstimate reviews { body author { name } } } }'
    )
    credentials = bearer("1")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await post(client, f"{cli_gateway}/graphql", query, headers=credentials)
        refused = await post(client, f"{cli_gateway}/graphql", query, headers={})

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "product": {
                "name": "Couch",
                "price": 1299,
                "shippingEstimate": 50,
                "reviews": [{"body": "Could be softer", "author": {"name": "Grace Hopper"}}],
            }
        }
    }
    assert refused.status_code == 401
    seen = [r for s in subgraphs.all for r in s.log.http]
    assert len(seen) == 3
    assert {r.headers["authorization"] for r in seen} == {credentials["authorization"]}


async def test_cli_gateway_composes_at_startup_from_subgraph_flags(
    subgraphs: Subgraphs, tmp_path: Path
) -> None:
    flags = [f"--subgraph={name}={url}" for name, url in subgraphs.urls.items()]
    async with threadline_gateway(tmp_path, *flags) as base:
        composed = [r for s in subgraphs.all for r in s.log.http]
        async with httpx.AsyncClient(timeout=10) as client:
            response = await post(client, f"{base}/graphql", "{ me { username reviews { body } } }")

    assert {r.query for r in composed} == {"{ _service { sdl } }"}
    assert len(composed) == 3
    assert response.json() == {
        "data": {"me": {"username": "ada", "reviews": [{"body": "Love it"}, {"body": "Sturdy"}]}}
    }


async def test_cli_gateway_streams_subscriptions_over_websocket_and_sse(
    cli_gateway: str, subgraphs: Subgraphs
) -> None:
    feed = subgraphs.reviews_state.feed
    query = "subscription { reviewAdded(limit: 1) { body author { name } product { name } } }"
    expected = {
        "data": {
            "reviewAdded": {
                "body": "From the CLI",
                "author": {"name": "Alan Turing"},
                "product": {"name": "Table"},
            }
        }
    }
    mutation = 'mutation { addReview(upc: "p1", authorId: "2", body: "From the CLI") { id } }'
    async with httpx.AsyncClient(timeout=10) as client:
        async with ws_session(cli_gateway.replace("http", "ws", 1) + "/graphql") as ws:
            await ws.send_json({"type": "connection_init", "payload": bearer("1")})
            assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
            await ws.send_json({"id": "c", "type": "subscribe", "payload": {"query": query}})
            await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
            assert (await post(client, f"{cli_gateway}/graphql", mutation)).status_code == 200
            ws_messages = [await ws.receive_json(timeout=5) for _ in range(2)]

        async with client.stream(
            "POST",
            f"{cli_gateway}/graphql",
            json={"query": query},
            headers={"accept": "text/event-stream", **bearer("1")},
        ) as stream:
            assert stream.status_code == 200
            await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
            assert (await post(client, f"{cli_gateway}/graphql", mutation)).status_code == 200
            sse_text = (await stream.aread()).decode()

    assert ws_messages == [
        {"id": "c", "type": "next", "payload": expected},
        {"id": "c", "type": "complete"},
    ]
    blocks = [b for b in sse_text.split("\n\n") if b.startswith("event:")]
    assert [b.split("\n")[0] for b in blocks] == ["event: next", "event: complete"]
    assert orjson.loads(blocks[0].split("data: ", 1)[1]) == expected
