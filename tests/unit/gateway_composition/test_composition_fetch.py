"""fetch_subgraph_sdl: asks a subgraph for { _service { sdl } } and explains failures."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.composition import CompositionError, fetch_subgraph_sdl

SDL = "type Query { a: Int }"


def _client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_fetch_posts_the_service_query_with_the_given_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": {"_service": {"sdl": SDL}}})

    async with _client(handler) as client:
        definition = await fetch_subgraph_sdl(
            client, "profile", "http://profile:4001/graphql", {"authorization": "Bearer t"}
        )

    assert (definition.name, definition.url, definition.sdl) == (
        "profile",
        "http://profile:4001/graphql",
        SDL,
    )
    assert seen[0].method == "POST"
    assert orjson.loads(seen[0].content) == {"query": "{ _service { sdl } }"}
    assert seen[0].headers["authorization"] == "Bearer t"


async def test_unreachable_subgraph_is_reported_with_its_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with _client(handler) as client:
        with pytest.raises(CompositionError) as caught:
            await fetch_subgraph_sdl(client, "journey", "http://journey:4002/graphql", {})

    assert caught.value.codes == ["SUBGRAPH_UNREACHABLE"]
    assert "http://journey:4002/graphql" in str(caught.value)
    assert caught.value.problems[0].subgraphs == ("journey",)


async def test_graphql_server_without_federation_is_not_a_subgraph() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"errors": [{"message": 'Cannot query field "_service" on type "Query".'}]}
        )

    async with _client(handler) as client:
        with pytest.raises(CompositionError) as caught:
            await fetch_subgraph_sdl(client, "x", "http://x/graphql", {})

    assert caught.value.codes == ["NOT_A_FEDERATION_SUBGRAPH"]
    assert 'Cannot query field "_service"' in str(caught.value)


async def test_non_graphql_error_page_is_reported_as_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    async with _client(handler) as client:
        with pytest.raises(CompositionError) as caught:
            await fetch_subgraph_sdl(client, "x", "http://x/graphql", {})

    assert caught.value.codes == ["SUBGRAPH_UNREACHABLE"]
    assert "HTTP 502" in str(caught.value)
