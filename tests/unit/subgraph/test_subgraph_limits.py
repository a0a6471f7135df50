"""A subgraph called directly (bypassing the gateway) enforces the gateway's document limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.applications import Starlette
from starlette.routing import Route

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.api.graph import ProfileContext, schema
from services.profile.domain.customer import Customer
from shared.auth import Principal, TokenVerifier, issue_token
from shared.graphql_limits import GraphQLLimits
from shared.ratelimit import RateLimiter
from shared.settings import Settings
from shared.subgraph import AuthenticatedGraphQL

SECRET = "subgraph-limits-secret-" + "x" * 32
HEADERS = {"authorization": f"Bearer {issue_token(SECRET, ['customers:read'])}"}


class CountingStore(InMemoryProfileStore):
    """The in-memory store, counting how often customers are loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def customers(self, customer_ids: Sequence[str]) -> dict[str, Customer]:
        self.loads += 1
        return await super().customers(customer_ids)


def profile_subgraph(store: InMemoryProfileStore, limits: GraphQLLimits | None) -> Starlette:
    async def context(request: Any, principal: Principal) -> ProfileContext:
        return ProfileContext(principal=principal, store=store)

    verifier = TokenVerifier(secret=SECRET)
    graphql = (
        AuthenticatedGraphQL(schema, verifier=verifier, context=context)
        if limits is None
        else AuthenticatedGraphQL(schema, verifier=verifier, context=context, limits=limits)
    )
    return Starlette(routes=[Route("/graphql", graphql)])


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
async def subgraph(store: CountingStore) -> AsyncIterator[httpx.AsyncClient]:
    app = profile_subgraph(store, None)  # the defaults a subgraph gets without configuration
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        yield client


async def post(client: httpx.AsyncClient, query: str, **body: Any) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, **body}, headers=HEADERS)


async def test_a_thousand_aliases_are_refused_before_anything_executes(
    subgraph: httpx.AsyncClient, store: CountingStore
) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(999))
    query = f'{{ {aliases} c: customer(id: "c1") {{ id }} }}'

    started = time.perf_counter()
    response = await post(subgraph, query)
    elapsed = time.perf_counter() - started

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "ALIAS_LIMIT_EXCEEDED", "limit": 30, "measured": 1000}
    assert "uses 1000 aliases; the limit is 30" in error["message"]
    assert response.json()["data"] is None
    assert store.loads == 0
    assert elapsed < 0.5
    assert len(response.content) < 1024


async def test_too_deep_operations_are_refused(
    subgraph: httpx.AsyncClient, store: CountingStore
) -> None:
    nested = "{ __schema { types { fields { type " + "{ ofType " * 20 + "{ name }" + "}" * 20
    query = nested + " } } } }"

    response = await post(subgraph, query)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
    assert error["extensions"]["limit"] == 15
    assert "flatten the query or split it" in error["message"]


async def test_cost_and_token_limits_come_from_the_configured_limits(
    store: CountingStore,
) -> None:
    limits = Settings(graphql_max_cost=5, graphql_max_tokens=100).graphql_limits
    app = profile_subgraph(store, limits)
    entities = 'query { _entities(representations: [{__typename: "Customer", id: "c"}]) '
    costly = entities + "{ ... on Customer { id channels } } }"
    wordy = "{ " + " ".join("__typename" for _ in range(150)) + " }"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        cost = await post(client, costly)
        tokens = await post(client, wordy)

    assert cost.status_code == 400
    assert cost.json()["errors"][0]["extensions"] == {
        "code": "COST_LIMIT_EXCEEDED",
        "limit": 5,
        "measured": 21,
    }
    assert tokens.status_code == 400
    assert tokens.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "more than 100 tokens" in tokens.json()["errors"][0]["message"]
    assert store.loads == 0


async def test_introspection_federation_and_ordinary_queries_still_work(
    subgraph: httpx.AsyncClient,
) -> None:
    introspection = await post(subgraph, get_introspection_query())
    service = await post(subgraph, "{ _service { sdl } }")
    customer = await post(
        subgraph, "query Q($id: ID!) { a: customer(id: $id) { id } }", variables={"id": "x"}
    )

    assert introspection.status_code == 200
    assert introspection.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "type Customer" in service.json()["data"]["_service"]["sdl"]
    assert customer.json() == {"data": {"a": None}}


async def test_introspection_is_refused_in_production_unless_switched_on(
    store: CountingStore,
) -> None:
    production = Settings(environment="production")
    switched_on = Settings(environment="production", graphql_introspection=True)
    responses = []
    for settings in (production, switched_on):
        app = profile_subgraph(store, settings.graphql_limits)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://profile"
        ) as client:
            responses.append(await post(client, "{ __schema { queryType { name } } }"))
    refused, allowed = responses

    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert "THREADLINE_GRAPHQL_INTROSPECTION=true" in refused.json()["errors"][0]["message"]
    assert allowed.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_subgraph_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_GRAPHQL_MAX_DEPTH", "7")
    monkeypatch.setenv("THREADLINE_GRAPHQL_MAX_ALIASES", "3")
    monkeypatch.setenv("THREADLINE_GRAPHQL_MAX_COST", "500")
    monkeypatch.setenv("THREADLINE_GRAPHQL_INTROSPECTION", "false")

    limits = Settings().graphql_limits

    assert (limits.max_depth, limits.max_aliases, limits.max_cost) == (7, 3, 500)
    assert limits.introspection_enabled is False
    monkeypatch.delenv("THREADLINE_GRAPHQL_INTROSPECTION")
    assert Settings(environment="production").graphql_limits.introspection_enabled is False
    assert Settings(environment="development").graphql_limits.introspection_enabled is True


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_each_token_subject_is_held_to_its_request_rate(store: CountingStore) -> None:
    clock = Clock()

    async def context(request: Any, principal: Principal) -> ProfileContext:
        return ProfileContext(principal=principal, store=store)

    graphql = AuthenticatedGraphQL(
        schema,
        verifier=TokenVerifier(secret=SECRET),
        context=context,
        rate_limiter=RateLimiter(rate=1.0, burst=2, clock=clock),
    )
    app = Starlette(routes=[Route("/graphql", graphql)])
    ana = {"authorization": f"Bearer {issue_token(SECRET, ['customers:read'], subject='ana')}"}
    bo = {"authorization": f"Bearer {issue_token(SECRET, ['customers:read'], subject='bo')}"}
    query = {"query": '{ customer(id: "c1") { id } }'}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        burst = [await client.post("/graphql", json=query, headers=ana) for _ in range(2)]
        refused = await client.post("/graphql", json=query, headers=ana)
        other = await client.post("/graphql", json=query, headers=bo)
        clock.now += 1.0
        refilled = await client.post("/graphql", json=query, headers=ana)

    assert [r.status_code for r in burst] == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "ana" in error["message"]
    assert store.loads == 4  # ana twice, bo, ana after the refill: the refused one never ran
    assert other.status_code == 200
    assert refilled.status_code == 200


def test_the_subgraph_rate_limit_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADLINE_GRAPHQL_RATE_LIMIT_PER_SECOND", "5")
    monkeypatch.setenv("THREADLINE_GRAPHQL_RATE_LIMIT_BURST", "7")

    settings = Settings()

    assert (settings.graphql_rate_limit_per_second, settings.graphql_rate_limit_burst) == (5.0, 7)
