"""The composed supergraph before printing: types with their join metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import TypeNode, ValueNode

from gateway.composition.model import Kind, Tagged, unset_type


@dataclass(frozen=True, slots=True)
class JoinGraph:
    enum_name: str
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class JoinType:
    graph: str
    key: str | None = None
    extension: bool = False
    resolvable: bool = True
    is_interface_object: bool = False


@dataclass(frozen=True, slots=True)
class JoinField:
    """One ``@join__field``; ``graph=None`` is the bare form (field from an @interfaceObject)."""

    graph: str | None
    requires: str | None = None
    provides: str | None = None
    type: str | None = None
    external: bool = False
    override: str | None = None
    used_overridden: bool = False


@dataclass(slots=True)
class SuperArgument(Tagged):
    name: str = ""
    type: TypeNode = field(default_factory=unset_type)
    default: ValueNode | None = None


@dataclass(slots=True)
class SuperField(Tagged):
    name: str = ""
    type: TypeNode = field(default_factory=unset_type)
    arguments: dict[str, SuperArgument] = field(default_factory=dict)
    default: ValueNode | None = None
    joins: list[JoinField] = field(default_factory=list)


@dataclass(slots=True)
class SuperEnumValue(Tagged):
    name: str = ""
    graphs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SuperType(Tagged):
    name: str = ""
    kind: Kind = Kind.OBJECT
    joins: list[JoinType] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    implements: list[tuple[str, str]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    union_members: list[tuple[str, str]] = field(default_factory=list)
    fields: dict[str, SuperField] = field(default_factory=dict)
    values: dict[str, SuperEnumValue] = field(default_factory=dict)


@dataclass(slots=True)
class Supergraph:
    graphs: list[JoinGraph] = field(default_factory=list)
    types: dict[str, SuperType] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    tag_name: str | None = None
    inaccessible_name: str | None = None
    join_version: tuple[int, int] = (0, 3)
    # Specs linked besides link/join, in Apollo's order: first subgraph (by name) using
    # them, and within a subgraph the federation spec's order (tag before inaccessible).
    link_order: list[str] = field(default_factory=list)
