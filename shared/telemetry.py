"""OpenTelemetry tracing with W3C trace context carried over HTTP and AMQP headers."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured: TracerProvider | None = None


def setup_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None = None,
    extra_processors: tuple[SpanProcessor, ...] = (),
) -> TracerProvider:
    """Install the process-wide tracer provider once; later calls add processors only.

    Spans are exported over OTLP/HTTP when ``otlp_endpoint`` is set; tests pass an
    in-memory exporter's processor instead.
    """
    global _configured
    if _configured is None:
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
            )
        trace.set_tracer_provider(provider)
        _configured = provider
    for processor in extra_processors:
        _configured.add_span_processor(processor)
    return _configured


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current span's ``traceparent``/``tracestate`` into ``headers``."""
    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, object]) -> otel_context.Context:
    """The trace context carried by incoming HTTP or AMQP headers."""
    carrier = {key.lower(): str(value) for key, value in headers.items()}
    return propagate.extract(carrier)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def current_ids() -> tuple[str | None, str | None]:
    """The current trace id and span id as hex, or ``(None, None)`` outside a span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
