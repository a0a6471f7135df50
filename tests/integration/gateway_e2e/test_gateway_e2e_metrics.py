"""/metrics after real traffic: requests, per-subgraph fetches, plan-cache hits."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.gateway_e2e.conftest import Gateway
from tests.integration.gateway_e2e.e2e_client import metric, post

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
