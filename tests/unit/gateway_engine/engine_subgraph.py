"""Tiny in-process federation subgraphs on graphql-core, recording what the gateway sends."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    GraphQLSchema,
    ObjectTypeDefinitionNode,
    build_schema,
    graphql,
    parse,
)

FEDERATION_PRELUDE = """
scalar _Any
scalar FieldSet
scalar link__Import
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @requires(fields: FieldSet!) on FIELD_DEFINITION
directive @provides(fields: FieldSet!) on FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
directive @override(from: String!, label: String) on FIELD_DEFINITION
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION \
| SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
directive @interfaceObject on OBJECT
type _Service { sdl: String }
"""

LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: '
    '["@key", "@requires", "@provides", "@external", "@shareable", "@override", '
    '"@inaccessible", "@interfaceObject"])\n'
)

EntityResolver = Callable[[dict[str, Any]], Any]


@dataclass
class Subgraph:
    """A federation subgraph: SDL (as composition sees it), root values, entity resolvers."""

    name: str
    sdl: str
    root: dict[str, Any] = field(default_factory=dict)
    entities: dict[str, EntityResolver] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with_status: int | None = None
    journal: list[str] | None = None
    """If set, shared between subgraphs: records the order requests arrived in."""
    _schema: GraphQLSchema | None = None

    @property
    def url(self) -> str:
        return f"http://{self.name}.test/graphql"

    @property
    def composition_sdl(self) -> str:
        return LINK + self.sdl

    def schema(self) -> GraphQLSchema:
        if self._schema is None:
            doc = parse(self.sdl)
            entity_types = [
                d.name.value
                for d in doc.definitions
                if isinstance(d, ObjectTypeDefinitionNode)
                and any(
                    directive.name.value == "key"
                    and not any(
                        a.name.value == "resolvable" and getattr(a.value, "value", True) is False
                        for a in directive.arguments or ()
                    )
                    for directive in d.directives or ()
                )
            ]
            has_query = re.search(r"^\s*type Query\b", self.sdl, re.M) is not None
            extra = FEDERATION_PRELUDE
            if entity_types:
                extra += f"union _Entity = {' | '.join(entity_types)}\n"
            query_fields = "_service: _Service!\n"
            if entity_types:
                query_fields += "_entities(representations: [_Any!]!): [_Entity]!\n"
            extra += ("extend type Query {" if has_query else "type Query {") + query_fields + "}"
            self._schema = build_schema(self.sdl + "\n" + extra)
        return self._schema

    def _resolve_entities(self, representations: list[dict[str, Any]]) -> list[Any]:
        out = []
        for rep in representations:
            resolver = self.entities.get(rep["__typename"])
            if resolver is None:
                raise ValueError(f"{self.name} cannot resolve entity {rep['__typename']}")
            value = resolver(rep)
            if isinstance(value, dict) and "__typename" not in value:
                value = {"__typename": rep["__typename"], **value}
            out.append(value)
        return out

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = orjson.loads(body)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append({**request, "headers": headers})
        if self.journal is not None:
            self.journal.append(self.name)
        if self.fail_with_status is not None:
            await _respond(send, self.fail_with_status, b"boom", "text/plain")
            return
        root = dict(self.root)
        root["_entities"] = lambda _info, representations: self._resolve_entities(representations)
        result = await graphql(
            self.schema(),
            request["query"],
            root_value=root,
            variable_values=request.get("variables"),
        )
        payload = result.formatted
        await _respond(send, 200, orjson.dumps(payload), "application/json")

    # -- assertions helpers ----------------------------------------------------------------

    def queries(self) -> list[str]:
        return [r["query"] for r in self.requests]


async def _respond(send: Any, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
