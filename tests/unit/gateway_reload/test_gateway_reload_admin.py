"""``POST /admin/reload`` and ``GET /admin/supergraph``: admin scope only, outcome as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from gateway.http import create_app
from gateway.reload import SupergraphReloader
from tests.unit.gateway_http.gateway_http_fakes import bearer, settings
from tests.unit.gateway_reload.reload_fakes import V1, V2, EngineFactory, ScriptedSource


@pytest.fixture
def source() -> ScriptedSource:
    return ScriptedSource(V1)


@pytest.fixture
async def client(source: ScriptedSource) -> AsyncIterator[httpx.AsyncClient]:
    reloader = SupergraphReloader(source, EngineFactory(), grace_seconds=0)
    app = create_app(reloader.load_initial, settings(), reloader=reloader)
    # httpx's ASGI transport runs no lifespan: load the first engine the way it would.
    app.state.engine_holder.current = await reloader.load_initial()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        yield client
    await reloader.aclose()


async def query(client: httpx.AsyncClient, text: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        content=orjson.dumps({"query": text}),
        headers={"content-type": "application/json", **bearer("customers:read")},
    )


def admin() -> dict[str, str]:
    return bearer("admin")


async def test_reload_without_a_token_is_401_and_loads_nothing(
    client: httpx.AsyncClient, source: ScriptedSource
) -> None:
    response = await client.post("/admin/reload")
    assert response.status_code == 401
    assert source.loads == 1


async def test_reload_with_an_invalid_token_is_401(
    client: httpx.AsyncClient, source: ScriptedSource
) -> None:
    response = await client.post("/admin/reload", headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    assert source.loads == 1


async def test_reload_without_admin_scope_is_403_and_loads_nothing(
    client: httpx.AsyncClient, source: ScriptedSource
) -> None:
    response = await client.post("/admin/reload", headers=bearer("customers:read"))
    supergraph = await client.get("/admin/supergraph", headers=bearer("customers:read"))
    assert response.status_code == 403
    assert "'admin' scope" in response.json()["errors"][0]["message"]
    assert supergraph.status_code == 403
    assert source.loads == 1


async def test_admin_reload_applies_a_new_supergraph_and_reports_it(
    client: httpx.AsyncClient, source: ScriptedSource
) -> None:
    before = (await client.get("/readyz")).json()["supergraph"]
    refused = await query(client, "{ added }")
    source.sdl = V2

    response = await client.post("/admin/reload", headers=admin())
    served = await query(client, "{ added }")
    after = (await client.get("/readyz")).json()["supergraph"]
    status = (await client.get("/admin/supergraph", headers=admin())).json()

    assert refused.json()["errors"][0]["message"] == "Cannot query field 'added' on type 'Query'."
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "applied"
    assert body["trigger"] == "admin"
    assert body["previousSha256"] == before["sha256"]
    assert body["sha256"] == after["sha256"] != before["sha256"]
    assert served.json() == {"data": {"added": "added@v2"}}
    assert status["sha256"] == after["sha256"]
    assert status["loadedAt"] == after["loadedAt"]
    assert status["lastReload"] == body


async def test_admin_reload_failure_is_502_keeps_old_schema_and_is_counted(
    client: httpx.AsyncClient, source: ScriptedSource
) -> None:
    source.problems = ["[SUBGRAPH_UNREACHABLE] [b] could not reach the subgraph"]

    response = await client.post("/admin/reload", headers=admin())
    served = await query(client, "{ hello }")
    metrics = (await client.get("/metrics")).text

    assert response.status_code == 502
    assert response.json()["outcome"] == "failed"
    assert response.json()["problems"] == source.problems
    assert served.json() == {"data": {"hello": "hello@v1"}}
    assert 'threadline_gateway_supergraph_reloads_total{outcome="failed"} 1.0' in metrics
    assert 'threadline_gateway_supergraph_reloads_total{outcome="applied"} 0.0' in metrics
