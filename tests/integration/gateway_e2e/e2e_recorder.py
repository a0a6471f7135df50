"""What each end-to-end subgraph saw: every HTTP request and WebSocket upgrade, headers included.

The gateway's guarantees ("a refused request never reaches a subgraph", "the bearer
token is forwarded", "the trace continues into the subgraph") are only provable from
the subgraph's side, so each subgraph app is wrapped in a :class:`RecordingApp`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_arrivals = itertools.count()
"""One sequence across all subgraphs, so tests can tell which subgraph was called first."""


@dataclass(frozen=True)
class SeenRequest:
    """One HTTP request or WebSocket upgrade as the subgraph received it."""

    kind: str
    """``http`` or ``websocket``."""
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    """The JSON body of an HTTP POST (the GraphQL request the gateway sent)."""
    arrival: int = field(default_factory=lambda: next(_arrivals))

    @property
    def query(self) -> str:
        return str((self.body or {}).get("query", ""))


@dataclass
class RequestLog:
    """Requests in arrival order; ``reset`` between tests."""

    seen: list[SeenRequest] = field(default_factory=list)

    def reset(self) -> None:
        self.seen.clear()

    @property
    def http(self) -> list[SeenRequest]:
        return [r for r in self.seen if r.kind == "http"]

    @property
    def websockets(self) -> list[SeenRequest]:
        return [r for r in self.seen if r.kind == "websocket"]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


class RecordingApp:
    """ASGI middleware recording each request before the subgraph handles it."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.log.seen.append(SeenRequest("websocket", _headers(scope)))
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        raw = b"".join(chunks)
        body: Any = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
        self.log.seen.append(
            SeenRequest("http", _headers(scope), body if isinstance(body, dict) else None)
        )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
