"""Introspection: answered by the gateway itself in development, refused in production."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.gateway_e2e.e2e_client import post
from tests.integration.gateway_e2e.e2e_stack import (
    Gateway,
    Subgraphs,
    gateway_settings,
    running_gateway,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def production(supergraph_sdl: str) -> AsyncIterator[Gateway]:
    async with running_gateway(supergraph_sdl, gateway_settings(environment="production")) as gw:
        yield gw


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ __type(name: "User") { fields { name } } }',
        'query Sneaky { product(upc: "p1") { name } ...Schema } '
        "fragment Schema on Query { __schema { types { name } } }",
    ],
    ids=["schema", "type", "inside-a-fragment"],
)
async def test_production_refuses_introspection_clearly_without_calling_subgraphs(
    production: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient, query: str
) -> None:
    response = await post(client, production.url, query)

    assert response.status_code == 400
    assert "data" not in response.json()
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert "introspection is disabled" in error["message"]
    assert "THREADLINE_GATEWAY_INTROSPECTION=true" in error["message"]
    assert subgraphs.requests_seen() == 0


async def test_production_still_serves_queries_and_typename(
    production: Gateway, client: httpx.AsyncClient
) -> None:
    response = await post(
        client, production.url, '{ __typename product(upc: "p2") { __typename name } }'
    )

    assert response.status_code == 200
    assert response.json() == {
        "data": {"__typename": "Query", "product": {"__typename": "Product", "name": "Couch"}}
    }


async def test_development_answers_introspection_from_the_api_schema_alone(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    query = """
    {
      __schema { subscriptionType { name } types { name } }
      product: __type(name: "Product") { fields { name } }
      user: __type(name: "User") { fields { name } }
    }
    """
    response = await post(client, gateway.url, query)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["__schema"]["subscriptionType"] == {"name": "Subscription"}
    types = {t["name"] for t in data["__schema"]["types"] if not t["name"].startswith("__")}
    assert types == {
        "Query", "Mutation", "Subscription", "Product", "Review", "User",
        "ID", "String", "Int", "Boolean",
    }  # fmt: skip
    product_fields = {f["name"] for f in data["product"]["fields"]}
    assert product_fields == {"upc", "name", "price", "weight", "reviews", "shippingEstimate"}
    user_fields = {f["name"] for f in data["user"]["fields"]}
    assert user_fields == {"id", "name", "username", "email", "reviews"}
    assert subgraphs.requests_seen() == 0
