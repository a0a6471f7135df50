"""Doubles for reload tests: an engine over an SDL that can hold operations open, a source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, execute, parse, validate

from gateway.engine import GraphQLRequest, PreparedOperation, RequestContext, RequestError
from gateway.reload import SupergraphLoadError

V1 = "type Query { hello: String }"
V2 = "type Query { hello: String added: String }"


@dataclass(eq=False)
class GatedEngine:
    """Answers every field with ``"<field>@<version>"``; operations wait for ``gate``."""

    sdl: str
    version: str
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    schema: GraphQLSchema = field(init=False)

    def __post_init__(self) -> None:
        self.schema = build_schema(self.sdl)
        self.gate.set()

    @property
    def api_schema(self) -> GraphQLSchema:
        return self.schema

    def prepare(self, request: GraphQLRequest) -> PreparedOperation:
        try:
            document = parse(request.query)
        except GraphQLError as exc:
            raise RequestError([dict(exc.formatted)]) from exc
        errors = validate(self.schema, document)
        if errors:
            raise RequestError([dict(error.formatted) for error in errors])
        operation = document.definitions[0]
        return PreparedOperation(document, None, operation.operation)  # type: ignore[attr-defined]

    async def execute(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> dict[str, Any]:
        await self.gate.wait()
        if self.closed:
            return {"errors": [{"message": "engine closed while running"}]}
        result = execute(
            self.schema,
            operation.document,
            field_resolver=lambda _source, info, **_: f"{info.field_name}@{self.version}",
        )
        return dict(result.formatted)  # type: ignore[union-attr]

    async def subscribe(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> AsyncIterator[dict[str, Any]]:
        for tick in range(1000):
            await self.gate.wait()
            yield {"data": {"tick": tick, "version": self.version}}

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class ScriptedSource:
    """A source whose next answer the test sets: an SDL, or problems to fail with."""

    sdl: str = V1
    problems: list[str] | None = None
    loads: int = 0

    @property
    def description(self) -> str:
        return "scripted source"

    async def load(self) -> str:
        self.loads += 1
        if self.problems is not None:
            raise SupergraphLoadError(self.description, self.problems)
        return self.sdl


@dataclass
class EngineFactory:
    """Builds a :class:`GatedEngine` per SDL, numbering the versions it built."""

    built: list[GatedEngine] = field(default_factory=list)

    def __call__(self, sdl: str) -> GatedEngine:
        engine = GatedEngine(sdl, f"v{len(self.built) + 1}")
        self.built.append(engine)
        return engine


async def eventually(condition: Any, what: str, attempts: int = 200) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")
