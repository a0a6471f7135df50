"""Mutable selection sets the planner builds per subgraph fetch, printed once at plan time."""

from __future__ import annotations

import hashlib

from graphql import ArgumentNode, DirectiveNode, FieldNode, ValueNode, VariableNode, print_ast
from graphql.language import Visitor, visit

INTERNAL_PREFIX = "__k_"
"""Alias prefix of fields the planner adds (keys, @requires inputs): never shown to clients."""

OWN_TYPE_PREFIX = "__s_"
"""Alias prefix of a client field whose type in the subgraph differs from the supergraph's
(``join__field(type:)``): sibling fragments selecting the same response key with another
type would not validate in the subgraph. The executor strips it from results."""


def strip_own_type(key: str) -> str:
    """The client response key behind a possibly own-type-aliased subgraph key."""
    return key[len(OWN_TYPE_PREFIX) :] if key.startswith(OWN_TYPE_PREFIX) else key


def print_arguments(arguments: tuple[ArgumentNode, ...]) -> str:
    if not arguments:
        return ""
    return "(" + ",".join(f"{a.name.value}:{print_ast(a.value)}" for a in arguments) + ")"


def internal_alias(node: FieldNode) -> str:
    """The response key of a planner-added field: stable, and distinct per argument set."""
    name = node.name.value
    if name == "__typename":
        return name
    if not node.arguments:
        return INTERNAL_PREFIX + name
    digest = hashlib.sha1(print_arguments(tuple(node.arguments)).encode()).hexdigest()[:8]
    return f"{INTERNAL_PREFIX}{name}_{digest}"


class _VariableFinder(Visitor):
    def __init__(self, found: list[str]) -> None:
        super().__init__()
        self.found = found

    def enter_variable(self, node: VariableNode, *_: object) -> None:
        if node.name.value not in self.found:
            self.found.append(node.name.value)


def variables_in(values: list[ValueNode], found: list[str]) -> None:
    for value in values:
        visit(value, _VariableFinder(found))


class SelField:
    __slots__ = ("arguments", "directives", "name", "response_key", "sub")

    def __init__(
        self,
        response_key: str,
        name: str,
        arguments: tuple[ArgumentNode, ...],
        composite: bool,
        directives: tuple[DirectiveNode, ...] = (),
    ) -> None:
        self.response_key = response_key
        self.name = name
        self.arguments = arguments
        self.directives = directives
        self.sub: SelSet | None = None
        if composite:
            # Every object level carries __typename: the executor resolves type conditions,
            # entity representations and abstract types from it.
            self.sub = SelSet()
            self.sub.add_typename()


class SelSet:
    """An ordered selection set: fields by response key, then inline fragments by type."""

    __slots__ = ("fields", "fragments")

    def __init__(self) -> None:
        self.fields: dict[str, SelField] = {}
        self.fragments: dict[str, SelSet] = {}

    def add_field(
        self,
        response_key: str,
        name: str,
        arguments: tuple[ArgumentNode, ...],
        composite: bool,
        directives: tuple[DirectiveNode, ...] = (),
    ) -> SelField:
        existing = self.fields.get(response_key)
        if existing is None:
            existing = SelField(response_key, name, arguments, composite, directives)
            self.fields[response_key] = existing
        return existing

    def add_typename(self) -> None:
        self.add_field("__typename", "__typename", (), False)

    def fragment(self, type_name: str) -> SelSet:
        sub = self.fragments.get(type_name)
        if sub is None:
            sub = SelSet()
            sub.add_typename()
            self.fragments[type_name] = sub
        return sub

    def is_empty(self) -> bool:
        return not self.fields and not self.fragments

    def print(self) -> str:
        parts: list[str] = []
        for f in self.fields.values():
            head = f.name if f.response_key == f.name else f"{f.response_key}:{f.name}"
            head += print_arguments(f.arguments)
            for directive in f.directives:
                head += " " + print_ast(directive)
            if f.sub is not None:
                head += f.sub.print()
            parts.append(head)
        for type_name, sub in self.fragments.items():
            parts.append(f"...on {type_name}{sub.print()}")
        return "{" + " ".join(parts) + "}"

    def variables(self, found: list[str]) -> None:
        for f in self.fields.values():
            variables_in([a.value for a in f.arguments], found)
            for directive in f.directives:
                variables_in([a.value for a in directive.arguments or ()], found)
            if f.sub is not None:
                f.sub.variables(found)
        for sub in self.fragments.values():
            sub.variables(found)
