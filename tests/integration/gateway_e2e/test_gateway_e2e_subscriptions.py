"""Subscriptions end to end: client → gateway (WebSocket or SSE) → subgraph (WebSocket).

The reviews subgraph streams ``reviewAdded`` events carrying only the keys of
``User`` and ``Product``; names, prices and the ``@requires`` shipping estimate
come from the other subgraphs, fetched by the gateway's plan for every event.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.gateway_e2e.e2e_client import bearer, eventually, post, token, ws_session
from tests.integration.gateway_e2e.e2e_stack import (
    Gateway,
    Subgraphs,
    gateway_settings,
    running_gateway,
)

pytestmark = pytest.mark.slow

ON_REVIEW = """
subscription OnReview($upc: String, $limit: Int) {
  reviewAdded(upc: $upc, limit: $limit) {
    id
    body
    author { name username }
    product { upc name price shippingEstimate }
  }
}
"""
ADD_REVIEW = """
mutation Add($upc: String!, $author: ID!, $body: String!) {
  addReview(upc: $upc, authorId: $author, body: $body) { id }
}
"""


def review_event(review_id: str, body: str, author: tuple[str, str], upc: str) -> dict[str, Any]:
    products = {"p1": ("Table", 899, 10), "p2": ("Couch", 1299, 50), "p3": ("Chair", 54, 5)}
    name, price, shipping = products[upc]
    return {
        "data": {
            "reviewAdded": {
                "id": review_id,
                "body": body,
                "author": {"name": author[0], "username": author[1]},
                "product": {"upc": upc, "name": name, "price": price, "shippingEstimate": shipping},
            }
        }
    }


async def add_review(
    client: httpx.AsyncClient, gateway: Gateway, upc: str, author: str, body: str
) -> None:
    response = await post(
        client, gateway.url, ADD_REVIEW, {"upc": upc, "author": author, "body": body}
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.json()


async def test_websocket_subscription_events_carry_fields_from_all_three_subgraphs(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    grace = f"Bearer {token('3')}"
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": grace}})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json(
            {
                "id": "s1",
                "type": "subscribe",
                "payload": {"query": ON_REVIEW, "variables": {"upc": "p2"}},
            }
        )
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")

        await add_review(client, gateway, "p1", "1", "Not for this subscriber")
        await add_review(client, gateway, "p2", "2", "Softer than it looks")
        first = await ws.receive_json(timeout=5)
        await add_review(client, gateway, "p2", "3", "Perfect")
        second = await ws.receive_json(timeout=5)

        await ws.send_json({"id": "s1", "type": "complete"})
        await eventually(lambda: feed.finished == 1, "the subgraph's subscription ended")

    assert first == {
        "id": "s1",
        "type": "next",
        "payload": review_event("r6", "Softer than it looks", ("Alan Turing", "alan"), "p2"),
    }
    assert second == {
        "id": "s1",
        "type": "next",
        "payload": review_event("r7", "Perfect", ("Grace Hopper", "grace"), "p2"),
    }
    assert feed.started == 1
    assert feed.queues == set()
    # The gateway reached the subgraph over graphql-transport-ws, with the subscriber's token.
    (upgrade,) = subgraphs.reviews.log.websockets
    assert upgrade.headers["sec-websocket-protocol"] == "graphql-transport-ws"
    assert feed.authorizations == [grace]
    (init_payload,) = feed.init_payloads
    assert isinstance(init_payload, dict)
    assert init_payload["authorization"] == grace


async def test_subgraph_completing_its_stream_completes_the_client_subscription(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json(
            {
                "id": "once",
                "type": "subscribe",
                "payload": {"query": ON_REVIEW, "variables": {"limit": 1}},
            }
        )
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        await add_review(client, gateway, "p3", "1", "Only one")
        messages = [await ws.receive_json(timeout=5) for _ in range(2)]

    assert messages == [
        {
            "id": "once",
            "type": "next",
            "payload": review_event("r5", "Only one", ("Ada Lovelace", "ada"), "p3"),
        },
        {"id": "once", "type": "complete"},
    ]
    assert feed.finished == 1


async def test_closing_the_websocket_ends_the_subgraph_subscription(
    gateway: Gateway, subgraphs: Subgraphs
) -> None:
    feed = subgraphs.reviews_state.feed
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json({"id": "a", "type": "subscribe", "payload": {"query": ON_REVIEW}})
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")

    await eventually(lambda: feed.finished == 1, "the subgraph's subscription ended")
    assert feed.queues == set()


async def read_sse(response: httpx.Response, into: asyncio.Queue[tuple[str, str]]) -> None:
    """Parse ``event:``/``data:`` pairs of a text/event-stream into a queue."""
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data:"):
            await into.put((event, line.removeprefix("data:").strip()))


async def test_sse_subscription_streams_events_resolved_across_subgraphs(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    alan = bearer("2")
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    async with (
        httpx.AsyncClient(timeout=10) as sse_client,
        sse_client.stream(
            "POST",
            gateway.url,
            json={"query": ON_REVIEW, "variables": {"upc": "p1"}},
            headers={"accept": "text/event-stream", **alan},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(read_sse(response, events))
        try:
            await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
            await add_review(client, gateway, "p1", "3", "Solid oak")
            kind, data = await asyncio.wait_for(events.get(), 5)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    assert kind == "next"
    assert orjson.loads(data) == review_event("r5", "Solid oak", ("Grace Hopper", "grace"), "p1")
    # The client hung up: the gateway must let go of the subgraph's subscription too.
    await eventually(lambda: feed.finished == 1, "the subgraph's subscription ended")
    assert feed.authorizations == [alan["authorization"]]


async def test_sse_subscription_ends_with_complete_when_the_subgraph_completes(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    async with (
        httpx.AsyncClient(timeout=10) as sse_client,
        sse_client.stream(
            "POST",
            gateway.url,
            json={"query": ON_REVIEW, "variables": {"limit": 1}},
            headers={"accept": "text/event-stream", **bearer("1")},
        ) as response,
    ):
        reader = asyncio.create_task(read_sse(response, events))
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        await add_review(client, gateway, "p2", "2", "Big")
        await asyncio.wait_for(reader, 5)

    received = [events.get_nowait() for _ in range(events.qsize())]
    assert [kind for kind, _ in received] == ["next", "complete"]
    assert orjson.loads(received[0][1]) == review_event("r5", "Big", ("Alan Turing", "alan"), "p2")


async def test_completing_one_of_two_subscriptions_ends_only_its_upstream_subscription(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        for sid in ("left", "right"):
            payload = {"query": "subscription { reviewAdded { body } }"}
            await ws.send_json({"id": sid, "type": "subscribe", "payload": payload})
        await eventually(lambda: len(feed.queues) == 2, "the subgraph has both subscriptions")

        await ws.send_json({"id": "left", "type": "complete"})
        await eventually(lambda: feed.finished == 1, "one subgraph subscription ended")
        await add_review(client, gateway, "p1", "2", "Still listening")
        message = await ws.receive_json(timeout=5)

    assert message == {
        "id": "right",
        "type": "next",
        "payload": {"data": {"reviewAdded": {"body": "Still listening"}}},
    }
    assert len(subgraphs.reviews.log.websockets) == 2


async def test_entity_errors_in_an_event_come_with_the_event_at_client_paths(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    query = "subscription { reviewAdded { body author { name email } } }"
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json({"id": "e", "type": "subscribe", "payload": {"query": query}})
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        await add_review(client, gateway, "p1", "3", "Nice")
        message = await ws.receive_json(timeout=5)

    assert message["type"] == "next"
    payload = message["payload"]
    assert payload["data"] == {
        "reviewAdded": {"body": "Nice", "author": {"name": "Grace Hopper", "email": None}}
    }
    (error,) = payload["errors"]
    assert error["path"] == ["reviewAdded", "author", "email"]
    assert error["extensions"]["serviceName"] == "accounts"


async def test_queries_and_mutations_run_over_the_websocket_too(
    gateway: Gateway, subgraphs: Subgraphs
) -> None:
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("2")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        mutation = 'mutation { addReview(upc: "p2", body: "Via socket") { body author { name } } }'
        await ws.send_json({"id": "m", "type": "subscribe", "payload": {"query": mutation}})
        messages = [await ws.receive_json(timeout=5) for _ in range(2)]

    assert messages == [
        {
            "id": "m",
            "type": "next",
            "payload": {
                "data": {"addReview": {"body": "Via socket", "author": {"name": "Alan Turing"}}}
            },
        },
        {"id": "m", "type": "complete"},
    ]
    assert subgraphs.reviews.log.websockets == []


async def test_sse_subscription_over_get_as_eventsource_sends_it(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    query = "subscription Get { reviewAdded(limit: 1) { body product { name } } }"
    async with (
        httpx.AsyncClient(timeout=10) as sse_client,
        sse_client.stream(
            "GET",
            gateway.url,
            params={"query": query},
            headers={"accept": "text/event-stream", **bearer("1")},
        ) as response,
    ):
        assert response.status_code == 200
        reader = asyncio.create_task(read_sse(response, events))
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        await add_review(client, gateway, "p3", "1", "Wobbly")
        await asyncio.wait_for(reader, 5)

    received = [events.get_nowait() for _ in range(events.qsize())]
    assert [kind for kind, _ in received] == ["next", "complete"]
    assert orjson.loads(received[0][1]) == {
        "data": {"reviewAdded": {"body": "Wobbly", "product": {"name": "Chair"}}}
    }


async def test_stopping_the_gateway_ends_its_subscriptions_at_the_subgraph(
    supergraph_sdl: str, subgraphs: Subgraphs
) -> None:
    feed = subgraphs.reviews_state.feed
    async with AsyncExitStack() as client_side:
        gateway_side = AsyncExitStack()
        short_lived = await gateway_side.enter_async_context(
            running_gateway(supergraph_sdl, gateway_settings())
        )
        ws = await client_side.enter_async_context(ws_session(short_lived.ws_url))
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        payload = {"query": "subscription { reviewAdded { body } }"}
        await ws.send_json({"id": "s", "type": "subscribe", "payload": payload})
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")

        # The client stays connected while the gateway shuts down (a deploy, a scale-in).
        await asyncio.wait_for(gateway_side.aclose(), 10)
        await eventually(lambda: feed.finished == 1, "the subgraph's subscription ended")

    assert feed.queues == set()


async def test_aliases_fragments_and_skip_apply_to_every_subscription_event(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    query = """
    subscription Shaped($terse: Boolean!) {
      fresh: reviewAdded {
        __typename
        text: body
        by: author { ...Who }
        product { title: name price @skip(if: $terse) }
      }
    }
    fragment Who on User { handle: username }
    """
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        payload = {"query": query, "variables": {"terse": True}}
        await ws.send_json({"id": "a", "type": "subscribe", "payload": payload})
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        await add_review(client, gateway, "p2", "3", "Roomy")
        message = await ws.receive_json(timeout=5)

    assert message == {
        "id": "a",
        "type": "next",
        "payload": {
            "data": {
                "fresh": {
                    "__typename": "Review",
                    "text": "Roomy",
                    "by": {"handle": "grace"},
                    "product": {"title": "Couch"},
                }
            }
        },
    }


async def test_subscriptions_completed_at_once_leave_nothing_open_upstream(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    gauge = 'threadline_gateway_active_subscriptions{transport="ws"}'
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        payload = {"query": "subscription { reviewAdded { body } }"}
        # Cancel at different moments of the upstream handshake.
        for attempt, delay in enumerate((0.0, 0.001, 0.005, 0.02, 0.05)):
            await ws.send_json({"id": f"s{attempt}", "type": "subscribe", "payload": payload})
            await asyncio.sleep(delay)
            await ws.send_json({"id": f"s{attempt}", "type": "complete"})
        await ws.send_json({"id": "alive", "type": "subscribe", "payload": payload})
        await eventually(
            lambda: len(feed.queues) == 1 and feed.started == feed.finished + 1,
            "only the last subscription is open upstream",
        )
        scraped = (await client.get(f"{gateway.base_url}/metrics")).text
        await add_review(client, gateway, "p1", "1", "Last one")
        message = await ws.receive_json(timeout=5)

    assert message["id"] == "alive"
    assert f"{gauge} 1.0" in scraped.splitlines()
    await eventually(lambda: feed.queues == set(), "the last subscription ended upstream")
    scraped = (await client.get(f"{gateway.base_url}/metrics")).text
    assert f"{gauge} 0.0" in scraped.splitlines()


async def test_events_that_need_only_keys_fetch_nothing_from_other_subgraphs(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    query = "subscription { reviewAdded { body author { id } product { upc } } }"
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer("1")})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json({"id": "k", "type": "subscribe", "payload": {"query": query}})
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        mutation = 'mutation { addReview(upc: "p3", authorId: "3", body: "Keys") { id } }'
        assert (await post(client, gateway.url, mutation)).status_code == 200
        message = await ws.receive_json(timeout=5)

    assert message["payload"] == {
        "data": {"reviewAdded": {"body": "Keys", "author": {"id": "3"}, "product": {"upc": "p3"}}}
    }
    assert subgraphs.accounts.log.seen == []
    assert subgraphs.products.log.seen == []
