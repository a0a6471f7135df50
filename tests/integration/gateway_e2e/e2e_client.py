"""How the tests talk to the gateway: bearer tokens, GraphQL POSTs, Prometheus samples."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from prometheus_client.parser import text_string_to_metric_families

from shared.auth import issue_token
from tests.integration.gateway_e2e.e2e_subgraph_app import JWT_SECRET

GRAPHQL_RESPONSE = "application/graphql-response+json"


def token(subject: str = "1", scopes: tuple[str, ...] = ("customers:read",)) -> str:
    return issue_token(JWT_SECRET, scopes, subject=subject, ttl_seconds=600)


def bearer(subject: str = "1") -> dict[str, str]:
    return {"authorization": f"Bearer {token(subject)}"}


async def post(
    client: httpx.AsyncClient,
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    operation_name: str | None = None,
) -> httpx.Response:
    """A GraphQL POST as a spec-following client sends it (token of user 1 unless given)."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = dict(variables)
    if operation_name is not None:
        body["operationName"] = operation_name
    sent = {"accept": GRAPHQL_RESPONSE, **(bearer() if headers is None else dict(headers))}
    return await client.post(url, json=body, headers=sent)


async def eventually(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Wait until ``check()`` holds (something another task or server does), or fail."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent: a counter never incremented)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@asynccontextmanager
async def ws_session(ws_url: str) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws WebSocket to the gateway (before ``connection_init``)."""
    async with httpx.AsyncClient() as http:
        session: AsyncWebSocketSession
        async with aconnect_ws(ws_url, http, subprotocols=["graphql-transport-ws"]) as session:
            yield session
