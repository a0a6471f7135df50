"""Subgraph HTTP calls: one shared keep-alive client, orjson bodies, in-flight deduplication."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx
import orjson

from gateway.http_pool import HttpConnectError, HttpPool, HttpPoolError, HttpUrlError
from shared.errors import ThreadlineError

# Headers that describe the client↔gateway hop, not the gateway↔subgraph one.
_NOT_FORWARDED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "accept",
        "accept-encoding",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
    }
)
_BASE_HEADERS = {
    "content-type": "application/json",
    "accept": "application/graphql-response+json, application/json",
}
_TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})
_BASE_HEADER_ITEMS = tuple(_BASE_HEADERS.items())


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


class SubgraphFetchError(ThreadlineError):
    """A subgraph could not be reached or did not answer with a GraphQL response."""

    def __init__(self, graph: str, message: str, status: int | None = None) -> None:
        super().__init__(f"HTTP fetch failed from '{graph}': {message}")
        self.graph = graph
        self.status = status


def forwardable(headers: Mapping[str, str]) -> dict[str, str]:
    """The client headers worth forwarding to subgraphs (auth, tracing, locale…)."""
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}


class SubgraphFetcher:
    """Posts GraphQL requests to subgraphs.

    Identical requests (same URL, body and headers) that are in flight at the same
    time share one HTTP call; each caller parses its own copy of the body, because
    the executor merges responses in place.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 30.0,
        max_connections: int = 512,
        max_connections_per_origin: int = 64,
    ) -> None:
        self._client = client
        # Without a caller's client, use our own keep-alive pool: O(1) per request, where
        # httpcore's pool scans every connection per request (most of the gateway's CPU
        # at 32 concurrent operations). ``max_connections`` caps each origin as well.
        self._pool: HttpPool | None = None
        if client is None:
            self._pool = HttpPool(max_connections=min(max_connections, max_connections_per_origin))
        self._timeout = timeout
        self._in_flight: dict[tuple[str, bytes, tuple[tuple[str, str], ...]], asyncio.Future[bytes]]
        self._in_flight = {}

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def fetch(
        self,
        graph: str,
        url: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        dedupe: bool = True,
    ) -> dict[str, Any]:
        body = orjson.dumps(payload)
        if not dedupe:
            # Mutations are neither shared nor resent on a dead keep-alive connection.
            return self._parse(graph, await self._post(graph, url, body, headers, retry=False))
        # Trace context differs per fetch but does not change the answer: leave it out.
        key = (
            url,
            body,
            tuple(sorted((k, v) for k, v in headers.items() if k not in _TRACE_HEADERS)),
        )
        shared = self._in_flight.get(key)
        if shared is not None:
            return self._parse(graph, await asyncio.shield(shared))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            raw = await self._post(graph, url, body, headers)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; mark it retrieved for the lone caller
            raise
        else:
            future.set_result(raw)
        finally:
            del self._in_flight[key]
        return self._parse(graph, raw)

    async def _post(
        self, graph: str, url: str, body: bytes, headers: Mapping[str, str], *, retry: bool = True
    ) -> bytes:
        if self._pool is None:
            assert self._client is not None
            try:
                response = await self._client.post(
                    url, content=body, headers={**headers, **_BASE_HEADERS}
                )
            except httpx.HTTPError as exc:
                raise SubgraphFetchError(graph, f"{type(exc).__name__}: {exc}") from exc
            status, content = response.status_code, response.content
        else:
            try:
                status, content = await self._pool.post(
                    url,
                    body,
                    (*headers.items(), *_BASE_HEADER_ITEMS),
                    deadline_s=self._timeout,
                    idempotent=retry,
                )
            except HttpUrlError as exc:
                raise SubgraphFetchError(graph, f"bad subgraph URL {url!r}: {exc}") from exc
            except HttpConnectError as exc:
                raise SubgraphFetchError(graph, f"ConnectError: {exc}") from exc
            except HttpPoolError as exc:
                raise SubgraphFetchError(graph, f"{type(exc).__name__}: {exc}") from exc
        if status >= 400 and not content.lstrip().startswith(b"{"):
            raise SubgraphFetchError(graph, f"{status} {_reason(status)}", status)
        return content

    @staticmethod
    def _parse(graph: str, raw: bytes) -> dict[str, Any]:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SubgraphFetchError(graph, f"invalid JSON response: {exc}") from exc
        if not isinstance(parsed, dict) or ("data" not in parsed and "errors" not in parsed):
            raise SubgraphFetchError(graph, "response is not a GraphQL response")
        return parsed
