"""The subgraph model composition works on: each subgraph's types with federation facts.

The parser (:mod:`gateway.composition.subgraph`) fills these in one pass over a
subgraph's SDL, so they are plain mutable dataclasses; nothing outside this
package mutates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from graphql import ListTypeNode, NamedTypeNode, NameNode, NonNullTypeNode, TypeNode, ValueNode


def unset_type() -> TypeNode:
    """Placeholder until merging sets the real type."""
    return NamedTypeNode(name=NameNode(value="String"))


class Kind(Enum):
    OBJECT = "type"
    INTERFACE = "interface"
    UNION = "union"
    ENUM = "enum"
    INPUT = "input"
    SCALAR = "scalar"


@dataclass(slots=True)
class Key:
    fields: str
    resolvable: bool = True
    of_extension: bool = False


@dataclass(slots=True)
class Tagged:
    """What every schema element may carry through composition: description and access tags."""

    description: str | None = None
    tags: list[str] = field(default_factory=list)
    inaccessible: bool = False
    deprecated: str | None = None  # the reason; "" for a bare @deprecated
    specified_by: str | None = None  # @specifiedBy(url:) on scalars
    # "tag"/"deprecated" in the order first applied: Apollo prints them in that order.
    applied_order: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Argument(Tagged):
    name: str = ""
    type: TypeNode = field(default_factory=unset_type)
    default: ValueNode | None = None


@dataclass(slots=True)
class Field(Tagged):
    name: str = ""
    type: TypeNode = field(default_factory=unset_type)
    arguments: dict[str, Argument] = field(default_factory=dict)
    default: ValueNode | None = None
    external: bool = False
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    override_label: str | None = None
    shareable: bool = False
    of_extension: bool = False


@dataclass(slots=True)
class EnumValue(Tagged):
    name: str = ""


@dataclass(slots=True)
class TypeDef(Tagged):
    name: str = ""
    kind: Kind = Kind.OBJECT
    keys: list[Key] = field(default_factory=list)
    extends: bool = False
    has_definition: bool = False
    has_extension: bool = False
    shareable_on_definition: bool = False
    shareable_on_extension: bool = False
    external_on_type: bool = False
    interface_object: bool = False
    fields: dict[str, Field] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, EnumValue] = field(default_factory=dict)

    @property
    def is_entity(self) -> bool:
        return bool(self.keys)


@dataclass(slots=True)
class Subgraph:
    """One subgraph after parsing, root types renamed to Query/Mutation/Subscription."""

    name: str
    url: str
    fed2: bool
    fed_version: tuple[int, int] = (2, 0)
    types: dict[str, TypeDef] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    tag_name: str | None = None
    inaccessible_name: str | None = None
    # Facts derived after parsing (see gateway.composition.facts).
    external: set[str] = field(default_factory=set)
    fake_external: set[str] = field(default_factory=set)
    provided: set[str] = field(default_factory=set)
    shareable: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)

    def field_at(self, type_name: str, field_name: str) -> Field | None:
        typedef = self.types.get(type_name)
        return typedef.fields.get(field_name) if typedef else None

    def implementations(self, interface: str) -> list[TypeDef]:
        return [
            t
            for t in self.types.values()
            if t.kind is Kind.OBJECT and interface in t.interfaces and not t.interface_object
        ]


def type_str(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return f"{type_str(node.type)}!"
    if isinstance(node, ListTypeNode):
        return f"[{type_str(node.type)}]"
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def base_name(node: TypeNode) -> str:
    while isinstance(node, NonNullTypeNode | ListTypeNode):
        node = node.type
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def is_non_null(node: TypeNode) -> bool:
    return isinstance(node, NonNullTypeNode)


BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
