"""GraphQL over HTTP: methods, media types and status codes (FakeEngine behind the HTTP layer)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway.http import create_app
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, bearer, settings

GQL = "application/graphql-response+json"
JSON = "application/json"


def client_for(engine: FakeEngine, **overrides: Any) -> httpx.AsyncClient:
    app = create_app(engine, settings(**overrides))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


async def post(
    client: httpx.AsyncClient, body: Any, accept: str | None = GQL, **headers: str
) -> httpx.Response:
    sent = {"content-type": "application/json", **bearer(), **headers}
    if accept is not None:
        sent["accept"] = accept
    return await client.post("/graphql", content=orjson.dumps(body), headers=sent)


async def test_post_query_answers_with_the_graphql_response_media_type(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": '{ hello(name: "Ada") }'})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GQL)
    assert response.json() == {"data": {"hello": "hello Ada"}}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (JSON, JSON),
        ("*/*", JSON),
        (None, JSON),
        (f"{GQL}, {JSON};q=0.9", GQL),
        (f"{GQL};q=0.5, {JSON}", JSON),
    ],
)
async def test_accept_header_chooses_the_response_media_type(
    engine: FakeEngine, accept: str | None, expected: str
) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": "{ hello }"}, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == expected


async def test_unsatisfiable_accept_is_406(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": "{ hello }"}, accept="text/plain")
    assert response.status_code == 406
    assert engine.prepared == []


async def test_parse_error_is_400_under_graphql_response_json_without_data(
    engine: FakeEngine,
) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": "{"})
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_parse_error_is_200_under_application_json(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": "{"}, accept=JSON)
    assert response.status_code == 200
    assert "data" not in response.json()


async def test_validation_error_status_depends_on_media_type(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        strict = await post(client, {"query": "{ nope }"})
        legacy = await post(client, {"query": "{ nope }"}, accept=JSON)
    assert strict.status_code == 400
    assert legacy.status_code == 200
    assert "Cannot query field 'nope'" in strict.json()["errors"][0]["message"]
    assert engine.executed == []


async def test_variable_coercion_failure_is_400_under_graphql_response_json(
    engine: FakeEngine,
) -> None:
    query = "query Q($id: ID!) { customer(id: $id) { id } }"
    async with client_for(engine) as client:
        response = await post(client, {"query": query, "variables": {"id": None}})
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_field_error_with_data_is_200_with_both_entries(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": "{ boom hello }"})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"boom": None, "hello": "hello world"}
    assert body["errors"][0]["path"] == ["boom"]


async def test_get_runs_queries_from_url_parameters(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await client.get(
            "/graphql",
            params={
                "query": "query Who($n: String) { hello(name: $n) }",
                "variables": '{"n": "Grace"}',
                "operationName": "Who",
                "extensions": '{"trace": true}',
            },
            headers={"accept": GQL, **bearer()},
        )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "hello Grace"}}
    assert engine.executed[0][0].extensions == {"trace": True}


async def test_mutation_over_get_is_405_and_never_executes(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await client.get(
            "/graphql",
            params={"query": 'mutation { rename(id: "1", name: "x") { id } }'},
            headers={"accept": GQL, **bearer()},
        )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert engine.executed == []


async def test_mutation_over_post_executes(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": 'mutation { rename(id: "1", name: "x") { name } }'})
    assert response.json() == {"data": {"rename": {"name": "x"}}}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_post_bodies_must_be_json(engine: FakeEngine, content_type: str | None) -> None:
    headers = {"accept": GQL, **bearer()}
    if content_type:
        headers["content-type"] = content_type
    async with client_for(engine) as client:
        response = await client.post("/graphql", content=b'{"query":"{hello}"}', headers=headers)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b'[{"query": "{hello}"}]', "batched"),
        (b'{"notquery": "{hello}"}', "no 'query'"),
        (b'{"query": 1}', "'query' must be a string"),
        (b'{"query": "{hello}", "variables": [1]}', "'variables' must be a JSON object"),
        (b'{"query": "{hello}", "extensions": "x"}', "'extensions' must be a JSON object"),
    ],
)
async def test_malformed_requests_are_400_with_a_reason(
    engine: FakeEngine, body: bytes, fragment: str
) -> None:
    async with client_for(engine) as client:
        response = await client.post(
            "/graphql",
            content=body,
            headers={"content-type": "application/json", "accept": GQL, **bearer()},
        )
    assert response.status_code == 400
    assert fragment in response.json()["errors"][0]["message"]
    assert engine.prepared == []


async def test_extensions_reach_the_engine(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        await post(client, {"query": "{ hello }", "extensions": {"clientLibrary": {"n": 1}}})
    assert engine.executed[0][0].extensions == {"clientLibrary": {"n": 1}}


async def test_body_over_the_size_limit_is_413(engine: FakeEngine) -> None:
    query = "{ hello }" + " " * 5000
    async with client_for(engine, max_request_bytes=2048) as client:
        declared = await post(client, {"query": query})

        async def chunks() -> Any:
            for _ in range(5):
                yield b" " * 1000

        streamed = await client.post(
            "/graphql",
            content=chunks(),
            headers={"content-type": "application/json", "accept": GQL, **bearer()},
        )
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "2048 bytes" in declared.json()["errors"][0]["message"]
    assert engine.prepared == []


async def test_subscription_without_a_stream_is_refused(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await post(client, {"query": "subscription { ticks(count: 1) }"})
    assert response.status_code == 400
    assert "text/event-stream" in response.json()["errors"][0]["message"]
    assert engine.subscribed == []


async def test_browsers_get_graphiql_on_get(engine: FakeEngine) -> None:
    async with client_for(engine) as client:
        response = await client.get(
            "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert '"/graphql"' in response.text


async def test_graphiql_is_off_in_production(engine: FakeEngine) -> None:
    async with client_for(engine, environment="production") as client:
        response = await client.get(
            "/graphql",
            params={"query": "{ hello }"},
            headers={"accept": "text/html,*/*;q=0.8", **bearer()},
        )
    assert response.headers["content-type"].startswith(JSON)
    assert response.json() == {"data": {"hello": "hello world"}}


async def test_engine_failure_is_500_without_internals(engine: FakeEngine) -> None:
    async def explode(*_: Any) -> dict[str, Any]:
        raise RuntimeError("secret internals")

    engine.execute = explode  # type: ignore[method-assign,assignment]
    async with client_for(engine) as client:
        response = await post(client, {"query": "{ hello }"})
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
