"""Fetch a running subgraph's SDL over HTTP (``{ _service { sdl } }``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from gateway.composition.errors import CompositionError, CompositionProblem
from gateway.composition.subgraph import SubgraphDefinition

SERVICE_QUERY = "{ _service { sdl } }"


def _fail(name: str, code: str, message: str) -> CompositionError:
    return CompositionError([CompositionProblem(code, f"[{name}] {message}", (name,))])


async def fetch_subgraph_sdl(
    client: httpx.AsyncClient, name: str, url: str, headers: Mapping[str, str] | None = None
) -> SubgraphDefinition:
    """Ask the subgraph at ``url`` for its federation SDL.

    Raises :class:`CompositionError` (code ``SUBGRAPH_UNREACHABLE`` or
    ``NOT_A_FEDERATION_SUBGRAPH``) with a message saying what to check.
    """
    request_headers = {"content-type": "application/json", "accept": "application/json"}
    request_headers.update(headers or {})
    try:
        response = await client.post(
            url, content=orjson.dumps({"query": SERVICE_QUERY}), headers=request_headers
        )
    except httpx.HTTPError as exc:
        raise _fail(
            name,
            "SUBGRAPH_UNREACHABLE",
            f"could not reach the subgraph at {url}: {exc.__class__.__name__}: {exc}. "
            "Check that it is running and that the URL is right.",
        ) from exc
    try:
        body: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise _fail(
            name,
            "SUBGRAPH_UNREACHABLE" if response.status_code >= 400 else "NOT_A_FEDERATION_SUBGRAPH",
            f"{url} answered HTTP {response.status_code} without a GraphQL JSON body; "
            "is this the subgraph's GraphQL endpoint?",
        )
    data = body.get("data")
    service = data.get("_service") if isinstance(data, dict) else None
    sdl = service.get("sdl") if isinstance(service, dict) else None
    if not isinstance(sdl, str):
        errors = body.get("errors") or []
        detail = (
            "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
            or f"HTTP {response.status_code}, no _service.sdl in the response"
        )
        raise _fail(
            name,
            "NOT_A_FEDERATION_SUBGRAPH",
            f"{url} did not answer {SERVICE_QUERY} ({detail}); is it an Apollo Federation "
            "subgraph (e.g. strawberry.federation.Schema)?",
        )
    return SubgraphDefinition(name=name, url=url, sdl=sdl)
