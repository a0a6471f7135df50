"""Depth, alias and cost limits, introspection switch, persisted queries and rate limiting."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson
import pytest
from graphql import get_introspection_query, parse

from gateway.http import create_app
from gateway.security import (
    DocumentLimits,
    LimitExceededError,
    PersistedQueries,
    PersistedQueryError,
    RateLimitedError,
    RateLimiter,
)
from gateway.security.limits import select_operation
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, bearer, settings

GQL = "application/graphql-response+json"


def client_for(engine: FakeEngine, **overrides: Any) -> httpx.AsyncClient:
    app = create_app(engine, settings(**overrides))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def post(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        content=orjson.dumps(body),
        headers={"content-type": "application/json", "accept": GQL, **bearer(), **headers},
    )


def measure(query: str, variables: dict[str, Any] | None = None, **overrides: Any) -> Any:
    limits = DocumentLimits(settings(**overrides))
    document = parse(query)
    operation = select_operation(document, None)
    assert operation is not None
    return limits.measure(FakeEngine().api_schema, document, operation, variables)


def test_depth_counts_nested_fields_through_fragments() -> None:
    query = """
      { customer(id: "1") { ...F } }
      fragment F on Customer { friends(first: 1) { orders { id } } }
    """
    assert measure(query).depth == 4


def test_cost_is_one_per_field_times_list_sizes() -> None:
    # customers(first: 5): 1 + 5 * (id 1 + orders(default 10) * (1 + id 1 + total 1 ... ))
    shape = measure("{ customers(first: 5) { id orders { id total } } }")
    assert shape.cost == 1 + 5 * (1 + (1 + 10 * 2))


def test_lists_under_a_sized_connection_are_bounded_by_its_size() -> None:
    shape = measure('{ customer(id: "1") { timeline(first: 3) { edges { node { id } } } } }')
    # customer 1 + (timeline 1 + 3 * (edges 1 + 1 * (node 1 + 1 * id 1)))
    assert shape.cost == 1 + (1 + 3 * (1 + (1 + 1)))


def test_size_arguments_given_as_variables_use_the_request_values() -> None:
    query = "query Q($n: Int = 2) { customers(limit: $n) { id } }"
    assert measure(query, {"n": 50}).cost == 1 + 50
    assert measure(query, {}).cost == 1 + 2
    assert measure(query, {"n": 50}).variable_sized


def test_aliases_are_counted() -> None:
    assert measure('{ a: hello b: hello c: customer(id: "1") { d: id } }').aliases == 4


def test_fragment_cycles_do_not_hang_the_measurement() -> None:
    query = """
      { customer(id: "1") { ...A } }
      fragment A on Customer { friends { ...B } }
      fragment B on Customer { friends { ...A } }
    """
    assert measure(query).depth == 3


def test_the_standard_introspection_query_fits_the_default_limits() -> None:
    limits = DocumentLimits(settings())
    limits.check(measure(get_introspection_query()))


def test_limit_errors_state_the_limit_and_the_measured_value() -> None:
    limits = DocumentLimits(settings(max_cost=20))
    with pytest.raises(LimitExceededError) as caught:
        limits.check(measure("{ customers(first: 30) { id } }"))
    assert caught.value.limit == 20
    assert caught.value.measured == 31
    assert "31" in str(caught.value)
    assert "20" in str(caught.value)


async def test_too_deep_queries_are_400_before_reaching_the_engine() -> None:
    engine = FakeEngine()
    deep = '{ customer(id: "1") { friends { friends { friends { id } } } } }'
    async with client_for(engine, max_depth=3) as client:
        response = await post(client, {"query": deep})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED", "limit": 3, "measured": 5}
    assert "nested at least 5 levels deep; the limit is 3" in error["message"]
    assert engine.prepared == []


async def test_hostile_nesting_is_refused_without_recursing_through_it() -> None:
    engine = FakeEngine()
    hostile = "{ customer(id: 1) " + "{ friends " * 150 + "{ id }" + "}" * 151
    deeper = "{ customer(id: 1) " + "{ friends " * 400 + "{ id }" + "}" * 401
    async with client_for(engine, max_depth=10) as client:
        response = await post(client, {"query": hostile})
        refused_by_parser = await post(client, {"query": deeper})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    # The walk stops one level past the limit instead of following all 152 levels.
    assert error["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED", "limit": 10, "measured": 12}
    assert "nested at least 12 levels deep; the limit is 10" in error["message"]
    assert refused_by_parser.status_code == 400
    assert "nested too deeply" in refused_by_parser.json()["errors"][0]["message"]
    assert engine.prepared == []


@pytest.mark.parametrize(
    ("overrides", "query", "code"),
    [
        ({"max_aliases": 2}, "{ a: hello b: hello c: hello }", "ALIAS_LIMIT_EXCEEDED"),
        ({"max_cost": 50}, "{ customers(first: 100) { id } }", "COST_LIMIT_EXCEEDED"),
    ],
)
async def test_alias_and_cost_limits_refuse_with_400(
    overrides: dict[str, Any], query: str, code: str
) -> None:
    engine = FakeEngine()
    async with client_for(engine, **overrides) as client:
        response = await post(client, {"query": query})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert engine.prepared == []


async def test_cost_with_a_variable_page_size_is_measured_per_request() -> None:
    engine = FakeEngine()
    query = "query Q($n: Int) { customers(first: $n) { id } }"
    async with client_for(engine, max_cost=50) as client:
        small = await post(client, {"query": query, "variables": {"n": 3}})
        large = await post(client, {"query": query, "variables": {"n": 100}})
    assert small.status_code == 200
    assert len(small.json()["data"]["customers"]) == 3
    assert large.status_code == 400
    assert large.json()["errors"][0]["extensions"]["measured"] == 101


async def test_documents_past_the_token_limit_are_refused() -> None:
    engine = FakeEngine()
    query = "{ " + " ".join(f"a{i}: hello" for i in range(400)) + " }"
    async with client_for(engine, max_tokens=500, max_aliases=1000) as client:
        response = await post(client, {"query": query})
    assert response.status_code == 400
    assert "tokens" in response.json()["errors"][0]["message"]
    assert engine.prepared == []


async def test_introspection_is_refused_in_production_by_default() -> None:
    engine = FakeEngine()
    async with client_for(engine, environment="production") as client:
        schema = await post(client, {"query": "{ __schema { queryType { name } } }"})
        typed = await post(client, {"query": '{ __type(name: "Customer") { name } }'})
        typename = await post(client, {"query": "{ __typename }"})
    assert schema.status_code == 400
    assert schema.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert "introspection is disabled" in schema.json()["errors"][0]["message"]
    assert typed.status_code == 400
    assert typename.status_code == 200


async def test_introspection_can_be_switched_on_explicitly_and_is_on_in_development() -> None:
    query = {"query": "{ __schema { queryType { name } } }"}
    async with client_for(FakeEngine(), environment="production", introspection=True) as client:
        forced = await post(client, query)
    async with client_for(FakeEngine()) as client:
        development = await post(client, query)
    async with client_for(FakeEngine(), introspection=False) as client:
        switched_off = await post(client, query)
    assert forced.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert development.status_code == 200
    assert switched_off.status_code == 400


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


async def test_automatic_persisted_queries_round_trip() -> None:
    engine = FakeEngine()
    query = "{ hello }"
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha(query)}}
    async with client_for(engine) as client:
        unknown = await post(client, {"extensions": apq})
        registered = await post(client, {"query": query, "extensions": apq})
        by_hash = await post(client, {"extensions": apq})
        by_get = await client.get(
            "/graphql",
            params={"extensions": orjson.dumps(apq).decode()},
            headers={"accept": GQL, **bearer()},
        )
    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert registered.json() == {"data": {"hello": "hello world"}}
    assert by_hash.json() == {"data": {"hello": "hello world"}}
    assert by_get.json() == {"data": {"hello": "hello world"}}


async def test_persisted_query_hash_mismatch_is_refused() -> None:
    engine = FakeEngine()
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha("{ hello }")}}
    async with client_for(engine) as client:
        response = await post(client, {"query": "{ __typename }", "extensions": apq})
    assert response.status_code == 400
    assert "provided sha does not match query" in response.json()["errors"][0]["message"]
    assert engine.prepared == []


async def test_invalid_queries_are_not_persisted() -> None:
    engine = FakeEngine()
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha("{ nope }")}}
    async with client_for(engine) as client:
        await post(client, {"query": "{ nope }", "extensions": apq})
        again = await post(client, {"extensions": apq})
    assert again.json()["errors"][0]["message"] == "PersistedQueryNotFound"


def test_the_persisted_query_store_evicts_the_least_recently_used() -> None:
    store = PersistedQueries(capacity=2)
    for query in ("{ a }", "{ b }"):
        store.register(sha(query), query)
    store.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": sha("{ a }")}})
    store.register(sha("{ c }"), "{ c }")
    assert len(store) == 2
    with pytest.raises(PersistedQueryError, match="PersistedQueryNotFound"):
        store.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": sha("{ b }")}})
    resolved = store.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": sha("{ a }")}})
    assert resolved is not None
    assert resolved.query == "{ a }"


def test_persisted_queries_can_be_turned_off() -> None:
    store = PersistedQueries(capacity=2, enabled=False)
    with pytest.raises(PersistedQueryError, match="PersistedQueryNotSupported"):
        store.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_bursts_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.take("a")
    assert caught.value.retry_after == pytest.approx(0.5)
    limiter.take("b")  # other clients have their own bucket
    clock.now += 0.5
    limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")


async def test_rate_limited_clients_get_429_with_retry_after() -> None:
    engine = FakeEngine()
    async with client_for(engine, rate_limit_per_second=0.5, rate_limit_burst=2) as client:
        ada = bearer(subject="ada")
        statuses = [(await post(client, {"query": "{ hello }"}, **ada)).status_code for _ in "abc"]
        limited = await post(client, {"query": "{ hello }"}, **ada)
        grace = await post(client, {"query": "{ hello }"}, **bearer(subject="grace"))
    assert statuses == [200, 200, 429]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert grace.status_code == 200
    assert len(engine.executed) == 3


def test_fragment_bombs_are_measured_without_exponential_work() -> None:
    # Each fragment spreads the next one twice: 2**40 leaves if walked naively.
    levels = 40
    fragments = "\n".join(
        f"fragment F{i} on Query {{ a: __typename ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = f"{{ ...F0 }}\n{fragments}\nfragment F{levels} on Query {{ hello }}"
    shape = measure(query)
    assert shape.cost == 2**levels + sum(2**i for i in range(levels))
    assert shape.aliases == sum(2**i for i in range(levels))


def test_fragment_chains_past_the_nesting_limit_are_refused() -> None:
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(200))
    query = f"{{ ...F0 }}\n{chain}\nfragment F200 on Query {{ hello }}"
    with pytest.raises(LimitExceededError) as caught:
        measure(query)
    assert caught.value.code == "FRAGMENT_NESTING_LIMIT_EXCEEDED"
    assert caught.value.limit == 64


async def test_guessing_tokens_is_rate_limited_by_ip() -> None:
    engine = FakeEngine()
    forged = bearer(secret="a-forged-secret-long-enough-for-hs256!!")
    async with client_for(engine, rate_limit_per_second=0.1, rate_limit_burst=3) as client:
        statuses = [
            (await post(client, {"query": "{ hello }"}, **forged)).status_code for _ in range(5)
        ]
    assert statuses == [401, 401, 401, 429, 429]
    assert engine.prepared == []


async def test_forwarded_for_names_the_client_only_when_trusted() -> None:
    engine = FakeEngine()
    body = orjson.dumps({"query": "{ whoami { clientId } }"})

    async def anonymous(client: httpx.AsyncClient, forwarded: str) -> httpx.Response:
        headers = {"content-type": "application/json", "x-forwarded-for": forwarded}
        return await client.post("/graphql", content=body, headers=headers)

    async with client_for(engine, auth_required=False, trust_forwarded_for=True) as client:
        trusted = await anonymous(client, "203.0.113.9, 10.0.0.1")
    async with client_for(engine, auth_required=False) as client:
        untrusted = await anonymous(client, "203.0.113.9")
    assert trusted.json()["data"]["whoami"]["clientId"] == "ip:203.0.113.9"
    assert untrusted.json()["data"]["whoami"]["clientId"] == "ip:127.0.0.1"
