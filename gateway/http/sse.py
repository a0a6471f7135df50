"""GraphQL over Server-Sent Events, "distinct connections" mode (the graphql-sse protocol).

One HTTP request per operation, answered with ``text/event-stream``: an
``event: next`` per result and a final ``event: complete``. Queries and
mutations stream their single result the same way. Comment lines keep idle
connections open through proxies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from graphql import OperationType
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.responses import StreamingResponse

from gateway.engine import Engine, RequestError
from gateway.http.pipeline import Caller, Operation
from gateway.telemetry import GatewayMetrics

logger = logging.getLogger("gateway.http.sse")

HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",  # nginx: do not buffer the stream
}
COMPLETE = b"event: complete\ndata:\n\n"
KEEPALIVE = b":\n\n"


def next_event(payload: dict[str, Any]) -> bytes:
    return b"event: next\ndata: " + orjson.dumps(payload) + b"\n\n"


def stream_response(
    engine: Engine,
    operation: Operation,
    caller: Caller,
    metrics: GatewayMetrics,
    keepalive: float,
) -> StreamingResponse:
    # The request's server span ends when this response is returned; the stream
    # continues the same trace under a span of its own.
    parent = otel_context.get_current()
    return StreamingResponse(
        _events(engine, operation, caller, metrics, keepalive, parent),
        status_code=200,
        media_type="text/event-stream",
        headers=HEADERS,
    )


async def _events(
    engine: Engine,
    operation: Operation,
    caller: Caller,
    metrics: GatewayMetrics,
    keepalive: float,
    parent: otel_context.Context,
) -> AsyncIterator[bytes]:
    tracer = trace.get_tracer("threadline.gateway")
    prepared, request = operation.prepared, operation.request
    with tracer.start_as_current_span("graphql.sse.stream", context=parent):
        context = caller.context()
        if prepared.operation_type is not OperationType.SUBSCRIPTION:
            try:
                result = await engine.execute(prepared, request, context)
            except RequestError as exc:  # e.g. variables that do not coerce
                result = {"errors": exc.errors}
            except Exception:
                logger.exception("executing an operation over SSE failed")
                result = _internal_error()
            yield next_event(result)
            yield COMPLETE
            return
        gauge = metrics.active_subscriptions.labels("sse")
        gauge.inc()
        events = aiter(engine.subscribe(prepared, request, context))
        pending: asyncio.Future[dict[str, Any]] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({pending}, timeout=keepalive)
                if not done:
                    yield KEEPALIVE
                    continue
                finished, pending = pending, None
                try:
                    payload = finished.result()
                except StopAsyncIteration:
                    break
                except RequestError as exc:  # raised lazily, e.g. variables that do not coerce
                    yield next_event({"errors": exc.errors})
                    break
                except Exception:
                    logger.exception("a subscription's event source failed")
                    yield next_event(_internal_error())
                    break
                yield next_event(payload)
            yield COMPLETE
        finally:
            gauge.dec()
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            closer = getattr(events, "aclose", None)
            if closer is not None:
                await closer()


def _internal_error() -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "the gateway failed while running this operation; see its logs",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ]
    }
