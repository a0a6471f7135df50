"""``/graphql`` over plain HTTP: GET and POST per the GraphQL-over-HTTP spec, SSE, GraphiQL.

Status codes (spec §Response): a request that fails to parse or validate —
nothing executed, no ``data`` entry — is 400 under
``application/graphql-response+json`` and 200 under ``application/json``; a
result with ``data`` is always 200. Transport problems have their own codes:
406 unacceptable Accept, 415 body not JSON, 413 too large, 405 mutation over GET.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.engine import RequestError
from gateway.http import sse
from gateway.http.errors import HttpError
from gateway.http.negotiation import Media, is_json_content_type, negotiate
from gateway.http.params import Params, from_body, from_query_string
from gateway.http.pipeline import Pipeline
from gateway.security import AuthenticationError, RateLimitedError, SecurityError
from gateway.telemetry import mark_error, server_span

logger = logging.getLogger("gateway.http")

_INTERNAL_ERROR = {
    "errors": [
        {
            "message": "the gateway failed while running this operation; see its logs",
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
}

_CONTENT_TYPES = {
    Media.GRAPHQL_RESPONSE: "application/graphql-response+json; charset=utf-8",
    Media.JSON: "application/json; charset=utf-8",
}


class GraphQLHttp:
    """The Starlette endpoint serving GET and POST on the GraphQL path."""

    def __init__(self, pipeline: Pipeline, graphiql_page: str | None) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.metrics = pipeline.metrics
        self.graphiql_page = graphiql_page
        self.max_bytes = pipeline.settings.max_request_bytes

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        # One dict of the raw headers: Starlette's Headers scans the list on every lookup.
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in request.scope["headers"]
        }
        path = request.scope["path"]
        method = request.method
        accept = headers.get("accept")
        html = method == "GET" and self.graphiql_page is not None
        media = negotiate(accept, html=html)
        if media is Media.HTML and self.graphiql_page is not None:
            return HTMLResponse(self.graphiql_page)
        body_media = media if media in _CONTENT_TYPES else Media.JSON
        transport = "sse" if media is Media.EVENT_STREAM else "http"
        operation_type = "unknown"
        with server_span(
            f"{method} {path}",
            headers,
            {"http.request.method": method, "url.path": path},
        ) as span:
            try:
                if media is None:
                    raise HttpError(
                        406,
                        f"cannot answer with any media type in Accept: {accept!r}; accept "
                        "application/graphql-response+json, application/json or "
                        "text/event-stream",
                        code="NOT_ACCEPTABLE",
                    )
                client = request.client
                caller = await self.pipeline.admit(
                    headers.get("authorization"),
                    client.host if client else None,
                    headers.get("x-forwarded-for"),
                    headers,
                )
                params = await self._params(request, headers)
                operation = self.pipeline.prepare(params)
                prepared = operation.prepared
                kind = prepared.operation_type
                operation_type = kind.value
                if span.is_recording():
                    span.update_name(f"{operation_type} {prepared.operation_name or ''}".strip())
                    span.set_attribute("graphql.operation.type", operation_type)
                    if prepared.operation_name:
                        span.set_attribute("graphql.operation.name", prepared.operation_name)
                # Subscriptions may use GET: it is all EventSource can send.
                if method == "GET" and kind is OperationType.MUTATION:
                    raise HttpError(
                        405,
                        "a mutation cannot be sent with GET (GET must be safe): use POST",
                        code="METHOD_NOT_ALLOWED",
                        headers={"allow": "POST"},
                    )
                engine = self.pipeline.holder.engine
                if media is Media.EVENT_STREAM:
                    response: Response = sse.stream_response(
                        engine,
                        operation,
                        caller,
                        self.metrics,
                        self.settings.sse_keepalive_seconds,
                    )
                else:
                    if kind is OperationType.SUBSCRIPTION:
                        raise HttpError(
                            400,
                            "subscriptions stream: send 'Accept: text/event-stream' (GraphQL "
                            "over SSE) or use the graphql-transport-ws WebSocket protocol",
                            code="SUBSCRIPTION_NEEDS_STREAM",
                        )
                    result = await engine.execute(prepared, operation.request, caller.context())
                    # No data: nothing ran (e.g. variables did not coerce), a request error.
                    status = 200 if "data" in result or body_media is Media.JSON else 400
                    if "errors" in result:
                        self.metrics.error("EXECUTION_ERROR")
                    response = self._json(result, status, body_media)
            except (RequestError, SecurityError, HttpError) as exc:
                response = self._refusal(exc, body_media, streaming=media is Media.EVENT_STREAM)
            except Exception:
                logger.exception("the gateway failed while serving a GraphQL request")
                self.metrics.error("INTERNAL_SERVER_ERROR")
                mark_error(span, "internal error")
                response = self._json(_INTERNAL_ERROR, 500, body_media)
            status = response.status_code
            if span.is_recording():
                span.set_attribute("http.response.status_code", status)
        self.metrics.observe(transport, operation_type, status, time.perf_counter() - started)
        return response

    async def _params(self, request: Request, headers: dict[str, str]) -> Params:
        if request.method == "GET":
            return from_query_string(request.query_params)
        if request.method != "POST":  # pragma: no cover - the route allows GET and POST only
            raise HttpError(405, "use GET or POST", headers={"allow": "GET, POST"})
        if not is_json_content_type(headers.get("content-type")):
            raise HttpError(
                415,
                "POST bodies must be 'Content-Type: application/json' (UTF-8)",
                code="UNSUPPORTED_MEDIA_TYPE",
            )
        return from_body(await self._body(request, headers.get("content-length")))

    async def _body(self, request: Request, declared: str | None) -> bytes:
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> HttpError:
        return HttpError(
            413,
            f"the request body is larger than {self.max_bytes} bytes; send a smaller "
            "document (or use persisted queries)",
            code="PAYLOAD_TOO_LARGE",
        )

    def _refusal(
        self, exc: RequestError | SecurityError | HttpError, media: Media, *, streaming: bool
    ) -> Response:
        """The response to a request refused before or instead of executing.

        A stream request (SSE) that fails validation gets 400 with a JSON body, as
        graphql-sse servers answer: there is no stream to carry the errors.
        """
        if isinstance(exc, RequestError):
            self.metrics.error("GRAPHQL_VALIDATION_FAILED")
            legacy = media is Media.JSON and not streaming
            status = 200 if legacy else 400
            return self._json({"errors": exc.errors}, status, media)
        self.metrics.error(exc.code)
        if isinstance(exc, SecurityError):
            return self._json(
                {"errors": [exc.graphql_error()]}, exc.status, media, self._headers(exc)
            )
        error = {"message": exc.message, "extensions": {"code": exc.code}}
        return self._json({"errors": [error]}, exc.status, media, exc.headers)

    @staticmethod
    def _headers(exc: SecurityError) -> dict[str, str]:
        if isinstance(exc, AuthenticationError):
            description = exc.message.replace('"', "'")
            return {
                "www-authenticate": (
                    f'Bearer realm="threadline", error="{exc.error}", '
                    f'error_description="{description}"'
                )
            }
        if isinstance(exc, RateLimitedError):
            return {"retry-after": str(max(1, round(exc.retry_after + 0.499)))}
        if exc.code == "PERSISTED_QUERY_NOT_FOUND":
            return {"cache-control": "private, no-cache, must-revalidate"}
        return {}

    @staticmethod
    def _json(
        payload: dict[str, Any],
        status: int,
        media: Media,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(
            orjson.dumps(payload),
            status_code=status,
            headers=headers,
            media_type=_CONTENT_TYPES[media],
        )
