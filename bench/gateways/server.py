"""A bare ASGI GraphQL server for one benchmark subgraph, run under uvicorn (uvloop, httptools).

It is deliberately thin so the subgraphs stay cheap next to the gateway under test:
responses are memoised by request body (the data is immutable and every gateway repeats
the same few subgraph requests), so after warm-up a subgraph request costs one dict
lookup. ``GET /stats`` reports how many GraphQL requests arrived (which the benchmark uses to
count each gateway's subgraph fetches per operation) and how many were executed rather
than answered from the memo; ``POST /stats`` zeroes both.

usage: python -m bench.gateways.server NAME PORT
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn
from graphql import graphql_sync

from bench.gateways.subgraph import Subgraph, load

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CACHE_LIMIT = 50_000
_JSON = [(b"content-type", b"application/json")]


class SubgraphApp:
    """ASGI app: ``POST /graphql`` (JSON body), ``GET /stats``, ``POST /stats`` (reset)."""

    def __init__(self, subgraph: Subgraph) -> None:
        self.subgraph = subgraph
        self.requests = 0
        self.executed = 0
        self._cache: dict[bytes, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path = scope["path"]
        if path == "/graphql" and scope["method"] == "POST":
            self.requests += 1
            await _respond(send, 200, self._graphql(body))
        elif path == "/stats":
            if scope["method"] == "POST":
                self.requests = self.executed = 0
            stats = {"requests": self.requests, "executed": self.executed}
            await _respond(send, 200, orjson.dumps(stats))
        elif path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
        else:
            await _respond(send, 404, b'{"errors":[{"message":"POST /graphql"}]}')

    def _graphql(self, body: bytes) -> bytes:
        cached = self._cache.get(body)
        if cached is not None:
            return cached
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return orjson.dumps({"errors": [{"message": f"body is not JSON: {exc}"}]})
        self.executed += 1
        result = graphql_sync(
            self.subgraph.schema,
            request.get("query") or "",
            variable_values=request.get("variables"),
            operation_name=request.get("operationName"),
        )
        response = orjson.dumps(result.formatted)
        if not result.errors and len(self._cache) < _CACHE_LIMIT:
            self._cache[body] = response
        return response


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str]) -> None:
    if len(argv) != 2 or not argv[1].isdigit():
        raise SystemExit("usage: python -m bench.gateways.server NAME PORT")
    app = SubgraphApp(load(argv[0]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(argv[1]),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
