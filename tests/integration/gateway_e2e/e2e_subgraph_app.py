"""Serving a strawberry federation schema with per-test state and a request log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from tests.integration.gateway_e2e.e2e_recorder import RecordingApp, RequestLog

JWT_SECRET = "e2e-gateway-secret-at-least-32-bytes-long"
"""The HS256 secret shared by the gateway and the subgraphs (which verify tokens again)."""


class SubgraphApp(GraphQL[dict[str, Any], None]):
    """Strawberry's ASGI app with the subgraph's state in every resolver's context."""

    def __init__(self, schema: strawberry.federation.Schema, state: Any) -> None:
        super().__init__(schema, graphql_ide=None)
        self.state = state

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> dict[str, Any]:
        return {"request": request, "response": response, "state": self.state}


@dataclass
class Served:
    """A subgraph: its ASGI app (recording), its state and what it received."""

    name: str
    app: RecordingApp
    state: Any
    log: RequestLog


def build(name: str, schema: strawberry.federation.Schema, state: Any) -> Served:
    log = RequestLog()
    return Served(name, RecordingApp(SubgraphApp(schema, state), log), state, log)


def bearer_claims(info: strawberry.Info) -> dict[str, Any] | None:
    """The claims of a valid bearer token the gateway forwarded, else None.

    Subgraphs verify the token themselves (DESIGN.md: every service enforces
    credentials), so a token the gateway failed to forward grants nothing.
    """
    request = info.context["request"]
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token, JWT_SECRET, algorithms=["HS256"], issuer="threadline"
        )
    except jwt.InvalidTokenError:
        return None
    return claims


def bearer_subject(info: strawberry.Info) -> str | None:
    subject = (bearer_claims(info) or {}).get("sub")
    return subject if isinstance(subject, str) else None
