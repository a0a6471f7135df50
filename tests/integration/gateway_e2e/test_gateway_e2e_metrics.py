"""/metrics after real traffic: requests, per-subgraph fetches, plan-cache hits."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.gateway_e2e.e2e_client import bearer, eventually, metric, post, ws_session
from tests.integration.gateway_e2e.e2e_stack import Gateway, Subgraphs

pytestmark = pytest.mark.slow

# Unique to this test, so its first run is the plan cache's only miss for it.
REPEATED = """
query MetricsProbe($upc: String!) {
  product(upc: $upc) { name reviews { author { username } } }
}
"""


async def _scrape(client: httpx.AsyncClient, gateway: Gateway) -> str:
    response = await client.get(f"{gateway.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_requests_subgraph_fetches_and_plan_cache_hits(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    before = await _scrape(client, gateway)
    for upc in ("p1", "p2", "p3", "p1"):
        response = await post(client, gateway.url, REPEATED, {"upc": upc})
        assert response.status_code == 200
        assert "errors" not in response.json()
    refused = await post(client, gateway.url, REPEATED, {"upc": "p1"}, headers={})
    assert refused.status_code == 401
    after = await _scrape(client, gateway)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    ok = {"transport": "http", "operation_type": "query", "status": "200"}
    assert delta("threadline_gateway_requests_total", **ok) == 4
    assert (
        delta(
            "threadline_gateway_request_duration_seconds_count",
            transport="http",
            operation_type="query",
        )
        == 4
    )
    assert delta("threadline_gateway_errors_total", code="UNAUTHENTICATED") == 1
    # Each run fetches the product, then its reviews, then their authors.
    for subgraph in ("products", "reviews", "accounts"):
        assert delta("threadline_gateway_subgraph_fetches_total", subgraph=subgraph) == 4
        assert (
            delta("threadline_gateway_subgraph_request_duration_seconds_count", subgraph=subgraph)
            == 4
        )
        assert delta("threadline_gateway_subgraph_fetch_errors_total", subgraph=subgraph) == 0
    assert delta("threadline_gateway_plan_cache_lookups_total", result="miss") == 1
    assert delta("threadline_gateway_plan_cache_lookups_total", result="hit") == 3
    assert delta("threadline_gateway_plan_cache_total", result="hit") == 3


async def test_metrics_count_operations_per_transport(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    feed = subgraphs.reviews_state.feed
    before = await _scrape(client, gateway)
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        query = {"query": '{ product(upc: "p3") { name } }'}
        await ws.send_json({"id": "q", "type": "subscribe", "payload": query})
        assert (await ws.receive_json(timeout=5))["type"] == "next"
    async with client.stream(
        "POST",
        gateway.url,
        json={"query": "subscription { reviewAdded(limit: 1) { body } }"},
        headers={"accept": "text/event-stream", **bearer()},
    ) as stream:
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        mutation = 'mutation { addReview(upc: "p1", body: "Counted") { id } }'
        assert (await post(client, gateway.url, mutation)).status_code == 200
        assert b"Counted" in await stream.aread()
    after = await _scrape(client, gateway)

    def delta(**labels: str) -> float:
        name = "threadline_gateway_requests_total"
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta(transport="ws", operation_type="query", status="200") == 1
    assert delta(transport="sse", operation_type="subscription", status="200") == 1
    assert delta(transport="http", operation_type="mutation", status="200") == 1
