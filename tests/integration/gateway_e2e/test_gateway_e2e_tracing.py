"""One trace per operation: server, operation, plan-node and fetch spans, continued in subgraphs."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.telemetry import setup_tracing
from tests.integration.gateway_e2e.e2e_client import bearer, eventually, post, ws_session
from tests.integration.gateway_e2e.e2e_stack import Gateway, Subgraphs

pytestmark = pytest.mark.slow

TRACED = "query Traced { topProducts(first: 2) { name reviews { body author { name } } } }"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    spans = InMemorySpanExporter()
    setup_tracing("threadline-gateway-e2e", extra_processors=(SimpleSpanProcessor(spans),))
    return spans


def _hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def _hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def _named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


async def _traced_query(
    gateway: Gateway,
    client: httpx.AsyncClient,
    exporter: InMemorySpanExporter,
    extra: dict[str, str] | None = None,
    operation_name: str | None = "Traced",
) -> list[ReadableSpan]:
    """Run TRACED (sending ``operationName`` as Apollo Client does unless told otherwise)."""
    exporter.clear()
    headers = {**bearer(), **(extra or {})}
    response = await post(
        client, gateway.url, TRACED, headers=headers, operation_name=operation_name
    )
    assert response.status_code == 200
    assert "errors" not in response.json()
    # The server span ends after the response is on its way.
    await eventually(lambda: bool(_server_spans(exporter)), "the server span has ended")
    return list(exporter.get_finished_spans())


async def test_one_operation_yields_one_trace_of_operation_plan_and_fetch_spans(
    gateway: Gateway,
    subgraphs: Subgraphs,
    client: httpx.AsyncClient,
    exporter: InMemorySpanExporter,
) -> None:
    spans = await _traced_query(gateway, client, exporter)

    (server,) = _named(spans, "query Traced")
    assert server.kind is SpanKind.SERVER
    trace_id = _hex_trace(server)
    ours = [s for s in spans if _hex_trace(s) == trace_id]
    (operation,) = _named(ours, "graphql.operation")
    plan_nodes = _named(ours, "graphql.plan_node")
    fetches = _named(ours, "graphql.fetch")
    assert operation.parent is not None
    assert operation.parent.span_id == server.context.span_id
    assert sorted(str(s.attributes["graphql.plan_node.subgraph"]) for s in plan_nodes) == [  # type: ignore[index]
        "accounts",
        "products",
        "reviews",
    ]
    assert sorted(str(s.attributes["subgraph"]) for s in fetches) == [  # type: ignore[index]
        "accounts",
        "products",
        "reviews",
    ]
    node_ids = {s.context.span_id for s in plan_nodes}
    assert all(s.parent is not None and s.parent.span_id in node_ids for s in fetches)
    assert all(
        s.parent is not None and s.parent.span_id == operation.context.span_id for s in plan_nodes
    )

    # Each subgraph continues the trace under the span of the fetch that called it.
    fetch_span_of = {str(s.attributes["subgraph"]): _hex_span(s) for s in fetches}  # type: ignore[index]
    for served in subgraphs.all:
        (request,) = served.log.http
        version, seen_trace, parent, _flags = request.headers["traceparent"].split("-")
        assert (version, seen_trace) == ("00", trace_id)
        assert parent == fetch_span_of[served.name]


async def test_the_callers_trace_is_continued_through_the_gateway_into_the_subgraphs(
    gateway: Gateway,
    subgraphs: Subgraphs,
    client: httpx.AsyncClient,
    exporter: InMemorySpanExporter,
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller_span = "00f067aa0ba902b7"
    spans = await _traced_query(
        gateway, client, exporter, {"traceparent": f"00-{caller_trace}-{caller_span}-01"}
    )

    (server,) = _named(spans, "query Traced")
    assert _hex_trace(server) == caller_trace
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == caller_span
    assert len([s for s in spans if _hex_trace(s) == caller_trace]) == 1 + 1 + 3 + 3
    for served in subgraphs.all:
        (request,) = served.log.http
        assert request.headers["traceparent"].split("-")[1] == caller_trace


async def test_spans_are_named_after_the_documents_operation_when_no_operation_name_is_sent(
    gateway: Gateway, client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    # curl, graphql-request and most non-Apollo clients send no operationName for a
    # single-operation document; the operation is still named "Traced".
    spans = await _traced_query(gateway, client, exporter, operation_name=None)

    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    (operation,) = _named(spans, "graphql.operation")
    assert server.name == "query Traced"
    assert server.attributes is not None
    assert server.attributes.get("graphql.operation.name") == "Traced"
    assert operation.attributes is not None
    assert operation.attributes.get("graphql.operation.name") == "Traced"


async def test_a_subscription_and_its_event_fetches_share_one_trace(
    gateway: Gateway,
    subgraphs: Subgraphs,
    client: httpx.AsyncClient,
    exporter: InMemorySpanExporter,
) -> None:
    feed = subgraphs.reviews_state.feed
    exporter.clear()
    query = "subscription Watch { reviewAdded { body author { name } } }"
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        await ws.send_json({"id": "t", "type": "subscribe", "payload": {"query": query}})
        await eventually(lambda: len(feed.queues) == 1, "the subgraph has the subscription")
        subgraphs.accounts.log.reset()
        mutation = 'mutation { addReview(upc: "p1", authorId: "2", body: "Traced") { id } }'
        assert (await post(client, gateway.url, mutation)).status_code == 200
        assert (await ws.receive_json(timeout=5))["type"] == "next"

    (upgrade,) = subgraphs.reviews.log.websockets
    subscription_trace = upgrade.headers["traceparent"].split("-")[1]
    (event_fetch,) = subgraphs.accounts.log.http
    assert event_fetch.headers["traceparent"].split("-")[1] == subscription_trace
    await eventually(
        lambda: any(
            s.kind is SpanKind.SERVER and _hex_trace(s) == subscription_trace
            for s in exporter.get_finished_spans()
        ),
        "the subscription's server span has ended",
    )
    traced = [s for s in exporter.get_finished_spans() if _hex_trace(s) == subscription_trace]
    assert {"graphql.plan_node", "graphql.fetch"} <= {s.name for s in traced}


async def test_websocket_operations_get_server_spans_named_like_http_ones(
    gateway: Gateway, client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    async with ws_session(gateway.ws_url) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer()})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        payload = {"query": TRACED, "operationName": "Traced"}
        await ws.send_json({"id": "q", "type": "subscribe", "payload": payload})
        assert (await ws.receive_json(timeout=5))["type"] == "next"
        assert (await ws.receive_json(timeout=5))["type"] == "complete"
    await eventually(lambda: bool(_server_spans(exporter)), "the server span has ended")

    (server,) = _server_spans(exporter)
    # README-http.md: "each operation gets a SERVER span ... named `<type> <operationName>`
    # and carries graphql.operation.*", whatever the transport.
    assert server.name == "query Traced"
    assert server.attributes is not None
    assert server.attributes.get("graphql.operation.type") == "query"
    assert server.attributes.get("graphql.operation.name") == "Traced"
