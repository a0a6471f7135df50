"""Bearer tokens are verified at the gateway and forwarded; refused requests reach no subgraph."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from httpx_ws import WebSocketDisconnect

from tests.integration.gateway_e2e.e2e_client import (
    GRAPHQL_RESPONSE,
    bearer,
    eventually,
    post,
    token,
    ws_session,
)
from tests.integration.gateway_e2e.e2e_stack import (
    Gateway,
    Subgraphs,
    gateway_settings,
    running_gateway,
)
from tests.integration.gateway_e2e.e2e_subgraph_app import JWT_SECRET

pytestmark = pytest.mark.slow

MY_REVIEWS = "{ me { name reviews { body product { name } } } }"


async def test_the_callers_token_reaches_every_subgraph_it_touches(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    grace = token("3")
    response = await post(
        client, gateway.url, MY_REVIEWS, headers={"authorization": f"Bearer {grace}"}
    )

    # accounts answers `me` from the forwarded token, which it verifies itself.
    assert response.json() == {
        "data": {
            "me": {
                "name": "Grace Hopper",
                "reviews": [{"body": "Could be softer", "product": {"name": "Couch"}}],
            }
        }
    }
    seen = [r for s in subgraphs.all for r in s.log.http]
    assert len(seen) == 3
    assert {r.headers.get("authorization") for r in seen} == {f"Bearer {grace}"}


async def test_a_mutation_acts_as_the_caller_the_token_names(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    mutation = 'mutation { addReview(upc: "p1", body: "Mine") { body author { name } } }'
    response = await post(client, gateway.url, mutation, headers=bearer("2"))

    assert response.json() == {
        "data": {"addReview": {"body": "Mine", "author": {"name": "Alan Turing"}}}
    }


def _expired() -> str:
    now = int(time.time())
    claims = {"sub": "1", "iss": "threadline", "iat": now - 600, "exp": now - 300}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, None),
        (
            {"authorization": f"Bearer {jwt.encode({'sub': '1'}, 'x' * 32, algorithm='HS256')}"},
            "invalid_token",
        ),
        ({"authorization": f"Bearer {_expired()}"}, "invalid_token"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, None),
    ],
    ids=["no-token", "forged", "expired", "not-bearer"],
)
async def test_unauthenticated_requests_get_401_and_no_subgraph_sees_them(
    gateway: Gateway,
    subgraphs: Subgraphs,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    error: str | None,
) -> None:
    response = await post(client, gateway.url, MY_REVIEWS, headers=headers)

    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="threadline"')
    if error:
        assert f'error="{error}"' in challenge
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert subgraphs.requests_seen() == 0


async def test_unauthenticated_sse_subscription_gets_401_and_opens_nothing_upstream(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        gateway.url,
        json={"query": "subscription { reviewAdded { id } }"},
        headers={"accept": "text/event-stream"},
    )

    assert response.status_code == 401
    assert subgraphs.requests_seen() == 0
    assert subgraphs.reviews_state.feed.started == 0


async def test_unauthenticated_websocket_is_closed_4403_and_opens_nothing_upstream(
    gateway: Gateway, subgraphs: Subgraphs
) -> None:
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"token": "forged"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json(timeout=5)

    assert closed.value.code == 4403
    assert subgraphs.requests_seen() == 0


def _nested(depth: int) -> str:
    """``product { reviews { author { reviews { product … } } } }`` ``depth`` fields deep."""
    cycle = ["reviews", "author", "reviews", "product"]
    fields = ['product(upc: "p1")'] + [cycle[i % 4] for i in range(depth - 2)]
    leaf = (
        "name"
        if fields[-1] in {"author", "product"} or fields[-1].startswith("product")
        else "body"
    )
    query = leaf
    for name in reversed(fields):
        query = f"{name} {{ {query} }}"
    return "{ " + query + " }"


async def test_a_nested_operation_runs_and_one_past_the_depth_limit_is_refused(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    # Depth 7 stays under the cost limit too; every level of lists multiplies the cost by 10.
    allowed = await post(client, gateway.url, _nested(7))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["data"]["product"]["reviews"][0]["author"]["reviews"][0] == {
        "product": {"reviews": [{"body": "Love it"}, {"body": "Too big"}]}
    }
    subgraphs.reset()

    refused = await post(client, gateway.url, _nested(16))

    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED", "limit": 15, "measured": 16}
    assert subgraphs.requests_seen() == 0


COSTLY = """
query Costly($first: Int!) {
  topProducts(first: $first) { reviews { author { reviews { body } } } }
}
"""


async def test_cost_is_measured_with_the_requests_variables_before_any_fetch(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    cheap = await post(client, gateway.url, COSTLY, {"first": 1})
    assert cheap.status_code == 200
    assert len(cheap.json()["data"]["topProducts"]) == 1
    subgraphs.reset()

    costly = await post(client, gateway.url, COSTLY, {"first": 1000})

    assert costly.status_code == 400
    assert costly.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    (error,) = costly.json()["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["extensions"]["limit"] == 10_000
    assert error["extensions"]["measured"] > 10_000
    assert "first/limit" in error["message"]
    assert subgraphs.requests_seen() == 0


async def test_too_many_aliases_are_refused_before_any_fetch(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    query = "{ " + " ".join(f'p{i}: product(upc: "p1") {{ name }}' for i in range(31)) + " }"
    response = await post(client, gateway.url, query)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "ALIAS_LIMIT_EXCEEDED"
    assert subgraphs.requests_seen() == 0


async def test_an_over_limit_subscription_over_websocket_never_reaches_the_subgraph(
    gateway: Gateway, subgraphs: Subgraphs
) -> None:
    deep = (
        "subscription { reviewAdded { "
        + "author { reviews { product { reviews { " * 4
        + "body"
        + " } } } }" * 4
        + " } }"
    )
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json({"id": "deep", "type": "subscribe", "payload": {"query": deep}})
        message = await ws.receive_json(timeout=5)

    assert message["type"] == "error"
    assert message["id"] == "deep"
    assert message["payload"][0]["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
    assert subgraphs.requests_seen() == 0


AUTHOR_EMAILS = '{ product(upc: "p1") { reviews { body author { name email } } } }'


async def test_subgraphs_enforce_scopes_of_the_forwarded_token(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    reader = {"authorization": f"Bearer {token('1', ('customers:read', 'pii:read'))}"}
    allowed = await post(client, gateway.url, AUTHOR_EMAILS, headers=reader)

    assert allowed.json() == {
        "data": {
            "product": {
                "reviews": [
                    {
                        "body": "Love it",
                        "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
                    },
                    {
                        "body": "Too big",
                        "author": {"name": "Alan Turing", "email": "alan@example.com"},
                    },
                ]
            }
        }
    }


async def test_a_subgraph_error_in_an_entity_fetch_nulls_only_its_field_at_the_client_path(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    response = await post(client, gateway.url, AUTHOR_EMAILS, headers=bearer("1"))

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {
        "product": {
            "reviews": [
                {"body": "Love it", "author": {"name": "Ada Lovelace", "email": None}},
                {"body": "Too big", "author": {"name": "Alan Turing", "email": None}},
            ]
        }
    }
    errors = sorted(body["errors"], key=lambda e: e["path"])
    assert [e["path"] for e in errors] == [
        ["product", "reviews", 0, "author", "email"],
        ["product", "reviews", 1, "author", "email"],
    ]
    assert {e["message"] for e in errors} == {"email needs the scope pii:read"}
    assert {e["extensions"]["serviceName"] for e in errors} == {"accounts"}


@pytest.fixture(scope="module")
async def strict(supergraph_sdl: str) -> AsyncIterator[Gateway]:
    """A gateway with a tiny rate limit and body size, to hit them without a flood."""
    settings = gateway_settings(
        rate_limit_per_second=0.01, rate_limit_burst=2, max_request_bytes=1024
    )
    async with running_gateway(supergraph_sdl, settings) as served:
        yield served


async def test_rate_limited_requests_get_429_and_never_reach_a_subgraph(
    strict: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    credentials = bearer("rate-limited-user")
    query = '{ product(upc: "p1") { name } }'
    first = await post(client, strict.url, query, headers=credentials)
    second = await post(client, strict.url, query, headers=credentials)
    subgraphs.reset()

    third = await post(client, strict.url, query, headers=credentials)

    assert [first.status_code, second.status_code] == [200, 200]
    assert third.status_code == 429
    assert int(third.headers["retry-after"]) >= 1
    assert third.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert subgraphs.requests_seen() == 0


async def test_oversized_bodies_get_413_and_never_reach_a_subgraph(
    strict: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    padding = " " * 2048
    response = await post(
        client, strict.url, '{ product(upc: "p1") { name } }' + padding, headers=bearer("big")
    )

    assert response.status_code == 413
    assert subgraphs.requests_seen() == 0


async def test_concurrent_callers_each_get_answers_made_with_their_own_token(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    # Identical in-flight subgraph requests are shared, but never across credentials.
    callers = ["1", "2", "3"] * 6
    responses = await asyncio.gather(
        *(post(client, gateway.url, MY_REVIEWS, headers=bearer(who)) for who in callers)
    )

    names = {"1": "Ada Lovelace", "2": "Alan Turing", "3": "Grace Hopper"}
    assert [r.json()["data"]["me"]["name"] for r in responses] == [names[c] for c in callers]
    first_reviews = {"1": "Love it", "2": "Too big", "3": "Could be softer"}
    assert [r.json()["data"]["me"]["reviews"][0]["body"] for r in responses] == [
        first_reviews[c] for c in callers
    ]


async def test_each_subscriber_s_event_fetches_carry_that_subscriber_s_token(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    ada, grace = bearer("1"), bearer("3")
    query = {"query": "subscription { reviewAdded { author { name } } }"}
    async with ws_session(gateway.ws_url) as first, ws_session(gateway.ws_url) as second:
        for ws, credentials in ((first, ada), (second, grace)):
            await ws.send_json({"type": "connection_init", "payload": credentials})
            assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
            await ws.send_json({"id": "1", "type": "subscribe", "payload": query})
        await eventually(lambda: len(feed.queues) == 2, "the subgraph has both subscriptions")
        subgraphs.accounts.log.reset()
        mutation = 'mutation { addReview(upc: "p2", authorId: "2", body: "Shared") { id } }'
        assert (await post(client, gateway.url, mutation)).status_code == 200
        events = [await ws.receive_json(timeout=5) for ws in (first, second)]

    expected = {"data": {"reviewAdded": {"author": {"name": "Alan Turing"}}}}
    assert [e["payload"] for e in events] == [expected, expected]
    assert sorted(str(a) for a in feed.authorizations) == sorted(
        [ada["authorization"], grace["authorization"]]
    )
    fetched_with = sorted(r.headers["authorization"] for r in subgraphs.accounts.log.http)
    assert fetched_with == sorted([ada["authorization"], grace["authorization"]])


async def test_an_over_limit_subscription_over_sse_is_refused_before_any_stream(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    # Four nested lists of reviews: 10 x 10 x 10 x 10 estimated items per event.
    nested = "product { reviews { author { reviews { " * 2 + "body" + " } } } }" * 2
    costly = "subscription { reviewAdded { " + nested + " } }"
    response = await client.post(
        gateway.url,
        json={"query": costly},
        headers={"accept": "text/event-stream", **bearer()},
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert subgraphs.requests_seen() == 0
    assert subgraphs.reviews_state.feed.started == 0
