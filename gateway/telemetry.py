"""The gateway's metrics and server spans.

Tracing and JSON logs come from ``shared.telemetry`` / ``shared.logging``; this
module adds what is particular to the gateway: Prometheus metrics per operation
and an extension point (:class:`EngineMetrics`) through which the federation
engine reports per-subgraph errors and query-plan cache hits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from shared.telemetry import extract_context, tracer

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class EngineMetrics:
    """What the federation engine may report; handed to it through ``bind_metrics``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.subgraph_errors = Counter(
            "threadline_gateway_subgraph_errors_total",
            "Errors of subgraph fetches, by subgraph and kind (http, graphql, timeout…)",
            ["subgraph", "kind"],
            registry=registry,
        )
        self.plan_cache = Counter(
            "threadline_gateway_plan_cache_total",
            "Query-plan cache lookups, by result (hit or miss)",
            ["result"],
            registry=registry,
        )
        self.subgraph_latency = Histogram(
            "threadline_gateway_subgraph_request_duration_seconds",
            "Latency of subgraph fetches",
            ["subgraph"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._hit = self.plan_cache.labels("hit")
        self._miss = self.plan_cache.labels("miss")

    def subgraph_error(self, subgraph: str, kind: str) -> None:
        self.subgraph_errors.labels(subgraph, kind).inc()

    def subgraph_fetch(self, subgraph: str, seconds: float) -> None:
        self.subgraph_latency.labels(subgraph).observe(seconds)

    def plan_cache_lookup(self, hit: bool) -> None:
        (self._hit if hit else self._miss).inc()


@runtime_checkable
class MetricsAware(Protocol):
    """An engine that wants :class:`EngineMetrics` implements ``bind_metrics``."""

    def bind_metrics(self, metrics: EngineMetrics) -> None: ...


class GatewayMetrics:
    """Per-app metrics in their own registry (several apps may live in one test process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "threadline_gateway_requests_total",
            "GraphQL requests by transport, operation type and HTTP status",
            ["transport", "operation_type", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "threadline_gateway_request_duration_seconds",
            "Time from request to response (first event for streams)",
            ["transport", "operation_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "threadline_gateway_errors_total",
            "GraphQL errors returned to clients, by error code",
            ["code"],
            registry=self.registry,
        )
        self.active_subscriptions = Gauge(
            "threadline_gateway_active_subscriptions",
            "Subscriptions currently streaming, by transport",
            ["transport"],
            registry=self.registry,
        )
        self.engine = EngineMetrics(self.registry)
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[tuple[str, str], Histogram] = {}

    def observe(self, transport: str, operation_type: str, status: int, seconds: float) -> None:
        key = (transport, operation_type, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self.requests.labels(transport, operation_type, str(status))
            self._request_children[key] = counter
        counter.inc()
        histogram = self._latency_children.get((transport, operation_type))
        if histogram is None:
            histogram = self.latency.labels(transport, operation_type)
            self._latency_children[(transport, operation_type)] = histogram
        histogram.observe(seconds)

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def exposition(self) -> bytes:
        """This app's metrics followed by the process-wide ones (runtime, GC, others')."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)


class EngineStatsCollector(Collector):
    """Exports an engine's own counters (``engine.stats``) at scrape time: no hot-path cost.

    Reads, duck-typed, ``plan_cache_hits``, ``plan_cache_misses`` and the per-subgraph
    dicts ``fetches`` and ``fetch_errors`` (``gateway.executor.stats.EngineStats``).
    """

    def __init__(self, engine: Callable[[], object | None]) -> None:
        self._engine = engine

    def describe(self) -> list[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        engine = self._engine()
        stats = getattr(engine, "stats", None) if engine is not None else None
        if stats is not None:
            yield from self._families(stats)

    @staticmethod
    def _families(stats: Any) -> Iterator[Metric]:
        lookups = CounterMetricFamily(
            "threadline_gateway_plan_cache_lookups",
            "Query-plan cache lookups of the federation engine, by result",
            labels=["result"],
        )
        fetches = CounterMetricFamily(
            "threadline_gateway_subgraph_fetches",
            "Subgraph fetches made by the federation engine, by subgraph",
            labels=["subgraph"],
        )
        errors = CounterMetricFamily(
            "threadline_gateway_subgraph_fetch_errors",
            "Failed subgraph fetches of the federation engine, by subgraph",
            labels=["subgraph"],
        )
        if stats is not None:
            lookups.add_metric(["hit"], float(getattr(stats, "plan_cache_hits", 0)))
            lookups.add_metric(["miss"], float(getattr(stats, "plan_cache_misses", 0)))
            for subgraph, count in dict(getattr(stats, "fetches", {})).items():
                fetches.add_metric([str(subgraph)], float(count))
            for subgraph, count in dict(getattr(stats, "fetch_errors", {})).items():
                errors.add_metric([str(subgraph)], float(count))
        yield lookups
        yield fetches
        yield errors


_tracer = tracer("threadline.gateway")


@contextmanager
def server_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, str | int]
) -> Iterator[Span]:
    """A SERVER span continuing the caller's W3C trace (``traceparent`` in ``headers``).

    Without an SDK tracer provider (tracing not set up) no span is made at all —
    a no-op span still costs microseconds per request — and callers forward the
    incoming trace headers themselves (see ``pipeline.Caller``).
    """
    if not isinstance(trace.get_tracer_provider(), SdkTracerProvider):
        yield INVALID_SPAN
        return
    context = extract_context(headers) if "traceparent" in headers else None
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=SpanKind.SERVER,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def mark_error(span: Span, description: str) -> None:
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, description))


def current_span() -> Span:
    return trace.get_current_span()
