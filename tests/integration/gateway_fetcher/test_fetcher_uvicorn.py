"""SubgraphFetcher's pool against a real uvicorn (httptools) subgraph under concurrency."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import uvicorn

from gateway.fetcher import SubgraphFetcher

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class EchoApp:
    """Answers ``{"data": {"echo": <body>, "auth": <authorization header>}}``."""

    def __init__(self) -> None:
        self.clients: set[tuple[str, int]] = set()

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        assert scope["type"] == "http"
        self.clients.add(scope["client"])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        answer = orjson.dumps(
            {
                "data": {
                    "echo": orjson.loads(body),
                    "auth": headers.get(b"authorization", b"").decode(),
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_concurrent_fetches_to_uvicorn_reuse_a_bounded_set_of_connections() -> None:
    app = EchoApp()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http="httptools",
            ws="none",
            lifespan="off",
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no startup event
            await asyncio.sleep(0.01)
    fetcher = SubgraphFetcher(max_connections_per_origin=4)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        for _ in range(3):
            results = await asyncio.gather(
                *(
                    fetcher.fetch("a", url, {"query": f"{{f{i}}}"}, {"authorization": f"u{i}"})
                    for i in range(40)
                )
            )
            assert [r["data"] for r in results] == [
                {"echo": {"query": f"{{f{i}}}"}, "auth": f"u{i}"} for i in range(40)
            ]
    finally:
        await fetcher.aclose()
        server.should_exit = True
        await serving
    # 120 requests, at most 4 at a time, over at most 4 TCP connections.
    assert 1 <= len(app.clients) <= 4
