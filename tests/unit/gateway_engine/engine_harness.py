"""Builds a FederationEngine over in-process subgraphs (httpx ASGI transports)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from gateway.engine import GraphQLRequest, RequestContext
from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_subgraph import Subgraph

FIXTURES = Path(__file__).parent / "fixtures"


def make_engine(
    supergraph: str, subgraphs: Mapping[str, Subgraph], **options: Any
) -> FederationEngine:
    sdl = (FIXTURES / f"{supergraph}.graphql").read_text()
    mounts = {
        f"http://{s.name}.test": httpx.ASGITransport(app=s)  # type: ignore[arg-type]
        for s in subgraphs.values()
    }
    return FederationEngine(sdl, client=httpx.AsyncClient(mounts=mounts), **options)


async def run(
    engine: FederationEngine,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    request = GraphQLRequest(query=query, variables=variables, operation_name=operation_name)
    prepared = engine.prepare(request)
    return await engine.execute(prepared, request, RequestContext(headers=headers or {}))


def plan_of(
    engine: FederationEngine, query: str, variables: dict[str, Any] | None = None
) -> list[list[dict[str, Any]]]:
    request = GraphQLRequest(query=query, variables=variables)
    prepared = engine.prepare(request)
    from graphql import get_operation_ast

    op = get_operation_ast(prepared.document)
    assert op is not None
    coerced = engine.coerce_variables(op, request)
    return engine.plan(prepared, request, coerced).describe()
