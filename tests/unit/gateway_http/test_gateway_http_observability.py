"""Health, readiness, Prometheus metrics, server spans, JSON logs with trace ids, CORS, lifespan."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.http import create_app
from gateway.telemetry import EngineMetrics
from shared.logging import JsonFormatter
from shared.telemetry import setup_tracing
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, bearer, settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def query(client: httpx.AsyncClient, text: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        content=orjson.dumps({"query": text}),
        headers={"content-type": "application/json", **bearer(), **headers},
    )


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing("gateway-tests", extra_processors=(SimpleSpanProcessor(exporter),))
    return exporter


async def test_healthz_is_always_ok() -> None:
    async with client_for(create_app(FakeEngine(), settings())) as client:
        response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_asks_the_engine() -> None:
    engine = FakeEngine()
    async with client_for(create_app(engine, settings())) as client:
        ready = await client.get("/readyz")
        engine.is_ready = False
        not_ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["engine"] == "the engine reports it is not ready"


async def test_readyz_uses_the_given_readiness_callable_and_reports_its_failure() -> None:
    async def readiness() -> bool:
        raise ConnectionError("subgraph profile unreachable")

    app = create_app(FakeEngine(), settings(), readiness=readiness)
    async with client_for(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert "subgraph profile unreachable" in response.json()["checks"]["engine"]


async def test_an_engine_factory_runs_in_the_lifespan_and_gates_readiness() -> None:
    built: list[FakeEngine] = []

    async def factory() -> FakeEngine:
        built.append(FakeEngine())
        return built[-1]

    app = create_app(factory, settings())
    async with client_for(app) as client:
        before = await client.get("/readyz")
        refused = await query(client, "{ hello }")
        async with app.router.lifespan_context(app):
            after = await client.get("/readyz")
            answered = await query(client, "{ hello }")
    assert before.status_code == 503
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert after.status_code == 200
    assert answered.json() == {"data": {"hello": "hello world"}}
    assert len(built) == 1


class MetricsEngine(FakeEngine):
    def bind_metrics(self, metrics: EngineMetrics) -> None:
        self.metrics = metrics


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample in exposition text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_operation_type_and_status_and_errors() -> None:
    engine = MetricsEngine()
    app = create_app(engine, settings())
    async with client_for(app) as client:
        await query(client, "{ hello }")
        await query(client, "{ hello }")
        await query(client, 'mutation { rename(id: "1", name: "x") { id } }')
        await query(client, "{ nope }", accept="application/graphql-response+json")
        await client.post("/graphql", content=b"{}", headers={"content-type": "application/json"})
        engine.metrics.subgraph_error("profile", "http")
        engine.metrics.plan_cache_lookup(hit=True)
        text = (await client.get("/metrics")).text
    total = "threadline_gateway_requests_total"
    assert sample(text, total, transport="http", operation_type="query", status="200") == 2
    assert sample(text, total, transport="http", operation_type="mutation", status="200") == 1
    assert sample(text, total, transport="http", operation_type="unknown", status="400") == 1
    assert sample(text, total, transport="http", operation_type="unknown", status="401") == 1
    assert (
        sample(
            text,
            "threadline_gateway_request_duration_seconds_count",
            transport="http",
            operation_type="query",
        )
        == 2
    )
    errors = "threadline_gateway_errors_total"
    assert sample(text, errors, code="GRAPHQL_VALIDATION_FAILED") == 1
    assert sample(text, errors, code="UNAUTHENTICATED") == 1
    subgraph = "threadline_gateway_subgraph_errors_total"
    assert sample(text, subgraph, subgraph="profile", kind="http") == 1
    assert sample(text, "threadline_gateway_plan_cache_total", result="hit") == 1
    assert "process_" in text or "python_gc" in text  # the process-wide registry follows


class StatsEngine(FakeEngine):
    """Carries counters shaped like the federation engine's ``EngineStats``."""

    def __init__(self) -> None:
        super().__init__()
        self.stats = SimpleNamespace(
            plan_cache_hits=7,
            plan_cache_misses=2,
            fetches={"profile": 9, "journey": 4},
            fetch_errors={"journey": 1},
        )


async def test_the_engines_own_stats_are_exported_at_scrape_time() -> None:
    engine = StatsEngine()
    async with client_for(create_app(engine, settings())) as client:
        first = (await client.get("/metrics")).text
        engine.stats.plan_cache_hits = 8
        second = (await client.get("/metrics")).text
    lookups = "threadline_gateway_plan_cache_lookups_total"
    assert sample(first, lookups, result="hit") == 7
    assert sample(first, lookups, result="miss") == 2
    assert sample(second, lookups, result="hit") == 8
    assert sample(first, "threadline_gateway_subgraph_fetches_total", subgraph="profile") == 9
    assert sample(first, "threadline_gateway_subgraph_fetch_errors_total", subgraph="journey") == 1


async def test_each_operation_gets_a_server_span_continuing_the_callers_trace(
    spans: InMemorySpanExporter,
) -> None:
    engine = FakeEngine()
    async with client_for(create_app(engine, settings())) as client:
        await query(client, "query Greeting { hello }", traceparent=TRACEPARENT)
    mine = [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID]
    assert len(mine) == 1
    span = mine[0]
    assert span.kind is SpanKind.SERVER
    assert span.name == "query Greeting"
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert span.attributes is not None
    assert span.attributes["graphql.operation.type"] == "query"
    assert span.attributes["http.response.status_code"] == 200
    forwarded = engine.executed[0][1].headers["traceparent"]
    assert forwarded.split("-")[1] == TRACE_ID
    assert forwarded.split("-")[2] == format(span.context.span_id, "016x")


async def test_failures_are_logged_as_json_with_the_trace_id(spans: InMemorySpanExporter) -> None:
    engine = FakeEngine()

    async def explode(*_: Any) -> dict[str, Any]:
        raise RuntimeError("engine bug")

    engine.execute = explode  # type: ignore[method-assign,assignment]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("gateway"))
    logger = logging.getLogger("gateway.http")
    logger.addHandler(handler)
    try:
        async with client_for(create_app(engine, settings())) as client:
            response = await query(client, "{ hello }", traceparent=TRACEPARENT)
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 500
    entry = orjson.loads(stream.getvalue().splitlines()[0])
    assert entry["trace_id"] == TRACE_ID
    assert entry["level"] == "error"
    assert "engine bug" in entry["exception"]


async def test_cors_allows_only_the_configured_origins() -> None:
    app = create_app(FakeEngine(), settings(cors_origins=("https://app.example",)))
    preflight_headers = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    async with client_for(app) as client:
        allowed = await client.options(
            "/graphql", headers={"origin": "https://app.example", **preflight_headers}
        )
        denied = await client.options(
            "/graphql", headers={"origin": "https://evil.example", **preflight_headers}
        )
        simple = await query(client, "{ hello }", origin="https://app.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"


async def test_without_cors_origins_no_cors_headers_are_sent() -> None:
    async with client_for(create_app(FakeEngine(), settings())) as client:
        response = await query(client, "{ hello }", origin="https://app.example")
    assert "access-control-allow-origin" not in response.headers
