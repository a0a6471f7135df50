"""A subgraph that is down: partial data with precise errors, counted in /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.integration.gateway_e2e.e2e_client import bearer, metric, post, ws_session
from tests.integration.gateway_e2e.e2e_stack import (
    Gateway,
    Subgraphs,
    gateway_settings,
    running_gateway,
)
from threadline.devinfra import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def reviews_down(supergraph_sdl: str) -> AsyncIterator[Gateway]:
    """The same supergraph, with the reviews subgraph's URL pointing at a closed port."""
    closed = f"http://127.0.0.1:{free_port()}/graphql"
    async with running_gateway(supergraph_sdl, gateway_settings(), {"reviews": closed}) as gw:
        yield gw


async def test_a_down_subgraph_nulls_its_fields_and_the_rest_is_served(
    reviews_down: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    before = (await client.get(f"{reviews_down.base_url}/metrics")).text
    response = await post(
        client, reviews_down.url, '{ product(upc: "p1") { name price reviews { body } } }'
    )
    after = (await client.get(f"{reviews_down.base_url}/metrics")).text

    assert response.status_code == 200
    body = response.json()
    # reviews is non-null ([Review!]!), so its null propagates to the nullable product;
    # the failed fetch's one error (at the entity it was resolving) explains that null.
    assert body["data"] == {"product": None}
    (failed,) = body["errors"]
    assert failed["extensions"] == {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": "reviews"}
    assert failed["message"].startswith("HTTP fetch failed from 'reviews'")
    assert failed["path"] == ["product"]
    assert len(subgraphs.products.log.http) == 1
    errors = "threadline_gateway_subgraph_fetch_errors_total"
    assert (
        metric(after, errors, subgraph="reviews") - metric(before, errors, subgraph="reviews") == 1
    )


async def test_a_subscription_to_a_down_subgraph_ends_with_an_error_over_sse(
    reviews_down: Gateway, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        reviews_down.url,
        json={"query": "subscription { reviewAdded { body } }"},
        headers={"accept": "text/event-stream", **bearer()},
    )

    assert response.status_code == 200
    blocks = [b for b in response.text.split("\n\n") if b.startswith("event:")]
    assert [b.split("\n")[0] for b in blocks] == ["event: next", "event: complete"]
    payload = orjson.loads(blocks[0].split("data: ", 1)[1])
    assert payload["data"] is None
    (error,) = payload["errors"]
    assert error["extensions"] == {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": "reviews"}


async def test_a_subscription_to_a_down_subgraph_ends_with_an_error_over_websocket(
    reviews_down: Gateway,
) -> None:
    async with ws_session(reviews_down.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        payload = {"query": "subscription { reviewAdded { body } }"}
        await ws.send_json({"id": "x", "type": "subscribe", "payload": payload})
        first = await asyncio.wait_for(ws.receive_json(), 5)
        second = await asyncio.wait_for(ws.receive_json(), 5)

    assert (first["id"], first["type"]) == ("x", "next")
    assert first["payload"]["data"] is None
    (error,) = first["payload"]["errors"]
    assert error["extensions"] == {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": "reviews"}
    assert error["message"].startswith("subscription to http://127.0.0.1:")
    assert second == {"id": "x", "type": "complete"}
