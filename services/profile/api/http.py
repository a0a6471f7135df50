"""HTTP plumbing of the profile's collection and admin routes: errors, spans, bodies.

Error bodies carry ``code`` and ``message`` because Segment's SDKs read those
keys; :func:`guarded` runs a route inside the HTTP server span and maps early
exits (:class:`RequestRejectedError`) and outages (503 with ``Retry-After``) to
JSON responses; :func:`read_body` never buffers more than a limit, also after
gunzip.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import BusError, StorageError
from shared.telemetry import extract_context

log = logging.getLogger("threadline.profile.collector")

RETRY_AFTER_SECONDS = 5
_tracer = trace.get_tracer(__name__)

_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    413: "payload_too_large",
    415: "unsupported_encoding",
    503: "service_unavailable",
}


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """A JSON error; ``code`` and ``message`` are there because the SDKs read those keys."""
    return {
        "success": False,
        "error": message,
        "code": _CODES.get(status, "error"),
        "message": message,
        **extra,
    }


class RequestRejectedError(Exception):
    """Ends a request early with a JSON error response."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(status, message, **extra)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def guarded(request: Request, handle: Callable[[], Any]) -> Response:
    """Run a handler inside the HTTP server span, mapping early exits to responses."""
    if trace.get_current_span().get_span_context().is_valid:
        return await _answer(handle)
    with _tracer.start_as_current_span(
        f"{request.method} {request.url.path}",
        context=extract_context(request.headers),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": request.method, "url.path": request.url.path},
    ):
        return await _answer(handle)


async def _answer(handle: Callable[[], Any]) -> Response:
    try:
        response: Response = await handle()
    except RequestRejectedError as exc:
        return json_response(exc.body, exc.status)
    except BusError as exc:
        return _unavailable("the event bus", exc)
    except StorageError as exc:
        return _unavailable("storage", exc)
    return response


def _unavailable(dependency: str, exc: Exception) -> Response:
    # The caller learns what failed; where (URLs, addresses, driver detail) is for the log.
    log.warning("answering 503: %s is unavailable: %s", dependency, exc)
    return json_response(
        error_body(503, f"{dependency} is unavailable, retry later"),
        503,
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def query_limit(request: Request, default: int = 100, maximum: int = 1000) -> int:
    """The ``limit`` query parameter, 1 to ``maximum``."""
    try:
        limit = int(request.query_params.get("limit", str(default)))
    except ValueError:
        raise RequestRejectedError(
            400, "limit must be an integer", errors={"limit": "not an integer"}
        ) from None
    if not 1 <= limit <= maximum:
        raise RequestRejectedError(
            400, f"limit must be between 1 and {maximum}", errors={"limit": "out of range"}
        )
    return limit


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRejectedError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestRejectedError(400, "the body must be a JSON object")
    return value


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, never buffering more than ``limit`` bytes (also after gunzip)."""
    too_large = f"{what} may be at most {limit // 1024} KB"
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise RequestRejectedError(413, f"{too_large}; this one is {declared} bytes")
        except ValueError:
            raise RequestRejectedError(400, "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejectedError(413, too_large)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise RequestRejectedError(415, f"Content-Encoding {encoding!r} is not supported; use gzip")
    return _gunzip(body, limit, too_large)


def _gunzip(body: bytes, limit: int, too_large: str) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestRejectedError(400, f"the gzip body is corrupt: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RequestRejectedError(413, f"{too_large} once decompressed")
    if not inflater.eof:
        raise RequestRejectedError(400, "the gzip body is truncated")
    return out
