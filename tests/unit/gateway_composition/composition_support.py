"""Helpers for composition tests: build subgraphs, compose, read join directives back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputValueDefinitionNode,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    parse,
    print_ast,
    value_from_ast_untyped,
)

from gateway.composition import CompositionError, SubgraphDefinition, compose

FIXTURES = Path(__file__).resolve().parents[2] / "gateway_fixtures" / "composition"

ALL_IMPORTS = (
    '"@key", "@shareable", "@external", "@requires", "@provides", "@override", '
    '"@inaccessible", "@interfaceObject", "@tag", "@extends"'
)


def fed2(name: str, body: str, version: str = "2.3") -> SubgraphDefinition:
    header = (
        f'extend schema @link(url: "https://specs.apollo.dev/federation/v{version}", '
        f"import: [{ALL_IMPORTS}])\n"
    )
    return SubgraphDefinition(name=name, url=f"http://{name}:4000/graphql", sdl=header + body)


def fed1(name: str, body: str) -> SubgraphDefinition:
    return SubgraphDefinition(name=name, url=f"http://{name}:4000/graphql", sdl=body)


def load_set(directory: Path) -> list[SubgraphDefinition]:
    return [
        SubgraphDefinition(name=p.stem, url=f"http://{p.stem}:4000/graphql", sdl=p.read_text())
        for p in sorted(directory.glob("*.graphql"))
    ]


def args_of(directive: DirectiveNode) -> dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value) for a in directive.arguments or ()}


@dataclass
class Composed:
    """A composed supergraph, parsed back with graphql-core for assertions."""

    sdl: str
    document: DocumentNode

    def type(self, name: str) -> TypeDefinitionNode:
        for definition in self.document.definitions:
            if isinstance(definition, TypeDefinitionNode) and definition.name.value == name:
                return definition
        raise AssertionError(f"type {name} not in supergraph:\n{self.sdl}")

    def has_type(self, name: str) -> bool:
        return any(
            isinstance(d, TypeDefinitionNode) and d.name.value == name
            for d in self.document.definitions
        )

    def directives(self, type_name: str, directive: str) -> list[dict[str, Any]]:
        node = self.type(type_name)
        return [args_of(d) for d in node.directives or () if d.name.value == directive]

    def field(
        self, type_name: str, field_name: str
    ) -> FieldDefinitionNode | InputValueDefinitionNode:
        node = self.type(type_name)
        for field in getattr(node, "fields", None) or ():
            if field.name.value == field_name:
                return field  # type: ignore[no-any-return]
        raise AssertionError(f"{type_name}.{field_name} not in supergraph:\n{self.sdl}")

    def field_names(self, type_name: str) -> list[str]:
        return [f.name.value for f in getattr(self.type(type_name), "fields", None) or ()]

    def field_type(self, type_name: str, field_name: str) -> str:
        return print_ast(self.field(type_name, field_name).type)

    def field_joins(self, type_name: str, field_name: str) -> list[dict[str, Any]]:
        field = self.field(type_name, field_name)
        return [args_of(d) for d in field.directives or () if d.name.value == "join__field"]

    def field_directive_names(self, type_name: str, field_name: str) -> list[str]:
        return [d.name.value for d in self.field(type_name, field_name).directives or ()]

    def join_types(self, type_name: str) -> list[dict[str, Any]]:
        return self.directives(type_name, "join__type")

    def enum_values(self, type_name: str) -> dict[str, list[str]]:
        node = self.type(type_name)
        assert isinstance(node, EnumTypeDefinitionNode)
        return {
            v.name.value: [
                args_of(d)["graph"] for d in v.directives or () if d.name.value == "join__enumValue"
            ]
            for v in node.values or ()
        }

    def enum_value_directives(self, type_name: str, value: str) -> list[str]:
        node = self.type(type_name)
        assert isinstance(node, EnumTypeDefinitionNode)
        for v in node.values or ():
            if v.name.value == value:
                return [d.name.value for d in v.directives or ()]
        raise AssertionError(f"{type_name}.{value} missing")

    def argument_names(self, type_name: str, field_name: str) -> list[str]:
        field = self.field(type_name, field_name)
        assert isinstance(field, FieldDefinitionNode)
        return [a.name.value for a in field.arguments or ()]

    def links(self) -> list[dict[str, Any]]:
        schema = next(d for d in self.document.definitions if isinstance(d, SchemaDefinitionNode))
        return [args_of(d) for d in schema.directives or () if d.name.value == "link"]

    def roots(self) -> dict[str, str]:
        schema = next(d for d in self.document.definitions if isinstance(d, SchemaDefinitionNode))
        return {op.operation.value: op.type.name.value for op in schema.operation_types}

    def graphs(self) -> dict[str, dict[str, Any]]:
        node = self.type("join__Graph")
        assert isinstance(node, EnumTypeDefinitionNode)
        return {v.name.value: args_of(next(iter(v.directives or ()))) for v in node.values or ()}

    def object_names(self) -> Iterator[str]:
        for d in self.document.definitions:
            if isinstance(d, ObjectTypeDefinitionNode):
                yield d.name.value


def composed(*subgraphs: SubgraphDefinition) -> Composed:
    sdl = compose(subgraphs)
    return Composed(sdl, parse(sdl))


def failure(*subgraphs: SubgraphDefinition) -> CompositionError:
    try:
        sdl = compose(subgraphs)
    except CompositionError as exc:
        return exc
    raise AssertionError(f"composition unexpectedly succeeded:\n{sdl}")
