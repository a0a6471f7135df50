"""Swapping engines on refresh: in-flight work stays on the old one, failures keep it."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gateway.engine import GraphQLRequest, RequestContext, RequestError
from gateway.http.pipeline import EngineHolder
from gateway.reload import FileSource, SubgraphsSource, SupergraphLoadError, SupergraphReloader
from tests.unit.gateway_reload.reload_fakes import (
    V1,
    V2,
    EngineFactory,
    ScriptedSource,
    eventually,
)

HELLO = GraphQLRequest("{ hello }")
ADDED = GraphQLRequest("{ hello added }")


async def started(
    source: ScriptedSource, factory: EngineFactory, grace: float = 0.0
) -> tuple[SupergraphReloader, EngineHolder, CollectorRegistry]:
    reloader = SupergraphReloader(source, factory, grace_seconds=grace)
    holder = EngineHolder()
    registry = CollectorRegistry()
    reloader.bind(holder, registry)
    holder.current = await reloader.load_initial()
    return reloader, holder, registry


def reloads(registry: CollectorRegistry, outcome: str) -> float | None:
    return registry.get_sample_value(
        "threadline_gateway_supergraph_reloads_total", {"outcome": outcome}
    )


async def run(holder: EngineHolder, request: GraphQLRequest) -> dict[str, object]:
    engine = holder.engine
    return await engine.execute(engine.prepare(request), request, RequestContext())


async def test_in_flight_operation_finishes_on_old_engine_while_new_requests_use_new() -> None:
    source, factory = ScriptedSource(V1), EngineFactory()
    reloader, holder, registry = await started(source, factory)
    old = factory.built[0]
    old.gate.clear()
    in_flight = asyncio.create_task(run(holder, HELLO))
    await eventually(lambda: reloader.current is not None and reloader.current.active == 1, "held")

    source.sdl = V2
    outcome = await reloader.reload("test")
    fresh = await run(holder, ADDED)
    await asyncio.sleep(0.05)  # the retirement task gets its turn; it must keep waiting
    closed_while_running = old.closed
    old.gate.set()

    assert outcome.outcome == "applied"
    assert fresh == {"data": {"hello": "hello@v2", "added": "added@v2"}}
    assert await in_flight == {"data": {"hello": "hello@v1"}}
    assert closed_while_running is False
    await eventually(lambda: old.closed, "the idle old engine is closed")
    assert factory.built[1].closed is False
    assert reloads(registry, "applied") == 1


async def test_before_refresh_a_new_field_fails_validation() -> None:
    source, factory = ScriptedSource(V1), EngineFactory()
    _, holder, _ = await started(source, factory)
    source.sdl = V2  # the source changed but nobody asked for a refresh

    with pytest.raises(RequestError, match="Cannot query field 'added'"):
        holder.engine.prepare(ADDED)


async def test_open_subscription_keeps_old_engine_until_the_stream_ends() -> None:
    source, factory = ScriptedSource(V1), EngineFactory()
    reloader, holder, _ = await started(source, factory)
    stream = holder.engine.subscribe(
        holder.engine.prepare(HELLO), HELLO, RequestContext()
    ).__aiter__()
    first = await anext(stream)

    source.sdl = V2
    await reloader.reload("test")
    second = await anext(stream)
    await asyncio.sleep(0.05)
    closed_while_streaming = factory.built[0].closed
    await stream.aclose()  # type: ignore[attr-defined]

    assert [first, second] == [
        {"data": {"tick": 0, "version": "v1"}},
        {"data": {"tick": 1, "version": "v1"}},
    ]
    assert closed_while_streaming is False
    await eventually(lambda: factory.built[0].closed, "the old engine closes after the stream")


async def test_failed_refresh_keeps_serving_the_old_supergraph_and_logs_the_problems(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, factory = ScriptedSource(V1), EngineFactory()
    reloader, holder, registry = await started(source, factory)
    before = holder.current
    source.problems = ['[b] [FIELD_TYPE_MISMATCH] "Query.hello" is String in a but Int in b']

    with caplog.at_level(logging.ERROR, logger="gateway.reload"):
        outcome = await reloader.reload("sighup")

    assert outcome.outcome == "failed"
    assert outcome.problems == tuple(source.problems)
    assert holder.current is before
    assert await run(holder, HELLO) == {"data": {"hello": "hello@v1"}}
    assert len(factory.built) == 1
    assert reloads(registry, "failed") == 1
    record = caplog.records[-1]
    assert record.problems == source.problems  # type: ignore[attr-defined]
    assert record.trigger == "sighup"  # type: ignore[attr-defined]
    assert reloader.status()["lastReload"]["outcome"] == "failed"


async def test_unchanged_sdl_does_not_swap_or_build_an_engine() -> None:
    source, factory = ScriptedSource(V1), EngineFactory()
    reloader, holder, registry = await started(source, factory)
    before = holder.current

    outcome = await reloader.reload("poll")

    assert outcome.outcome == "unchanged"
    assert outcome.sha256 == outcome.previous_sha256 == before.supergraph.sha256  # type: ignore[union-attr]
    assert holder.current is before
    assert len(factory.built) == 1
    assert reloads(registry, "unchanged") == 1
    assert reloads(registry, "applied") == 0


async def test_polling_applies_a_changed_supergraph_without_any_signal() -> None:
    source, factory = ScriptedSource(V1), EngineFactory()
    reloader = SupergraphReloader(source, factory, poll_seconds=0.01, grace_seconds=0)
    holder = EngineHolder()
    reloader.bind(holder, CollectorRegistry())
    holder.current = await reloader.load_initial()
    await reloader.start()
    try:
        await eventually(lambda: source.loads >= 3, "the poller loaded a few times")
        assert len(factory.built) == 1
        source.sdl = V2
        await eventually(lambda: len(factory.built) == 2, "the poller built the new engine")
        assert await run(holder, ADDED) == {"data": {"hello": "hello@v2", "added": "added@v2"}}
    finally:
        await reloader.aclose()


async def test_file_source_rereads_the_file_and_names_it_when_unreadable(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "supergraph.graphql"
    path.write_text(V1)
    source = FileSource(path)
    first = await source.load()
    path.write_text(V2)
    second = await source.load()
    path.unlink()

    assert (first, second) == (V1, V2)
    with pytest.raises(SupergraphLoadError, match=r"supergraph\.graphql: cannot read it"):
        await source.load()


async def test_subgraphs_source_names_the_subgraph_it_could_not_reach() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    source = SubgraphsSource(
        {"b": "http://b.invalid/graphql"}, transport=httpx.MockTransport(refuse)
    )

    with pytest.raises(SupergraphLoadError) as caught:
        await source.load()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("[SUBGRAPH_UNREACHABLE] [b] could not reach")
