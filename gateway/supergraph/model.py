"""Planning metadata read from a supergraph: keys, field sources, subgraphs."""

from dataclasses import dataclass, field

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    EnumValueNode,
    GraphQLError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeNode,
    ValueNode,
    parse,
)

from shared.errors import ThreadlineError


class SupergraphError(ThreadlineError):
    """The supergraph SDL is malformed or is not a join-spec supergraph."""


@dataclass(frozen=True, slots=True)
class KeyDef:
    """One ``@key`` of a type in one subgraph."""

    graph: str
    fields: str
    selection: SelectionSetNode
    resolvable: bool


@dataclass(frozen=True, slots=True)
class FieldSource:
    """A subgraph able to resolve a field, and how.

    ``via`` is the type the subgraph knows the field on: the type itself, or an
    interface it models as an ``@interfaceObject`` (entity fetches then send
    representations typed as that interface). ``own_type`` is the field's type in
    this subgraph (``join__field(type:)``) when it differs from the supergraph's
    merged type (e.g. ``String!`` here, ``String`` in the API schema).
    """

    graph: str
    via: str
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    own_type: str | None = None


@dataclass(slots=True)
class TypeMeta:
    name: str
    kind: str
    graphs: list[str] = field(default_factory=list)
    keys: dict[str, list[KeyDef]] = field(default_factory=dict)
    interface_object_graphs: set[str] = field(default_factory=set)
    members_by_graph: dict[str, set[str]] = field(default_factory=dict)
    """For abstract types: which concrete types each subgraph can return for it."""

    def resolvable_keys(self, graph: str) -> list[KeyDef]:
        return [k for k in self.keys.get(graph, ()) if k.resolvable]


@dataclass(slots=True)
class FieldMeta:
    type_name: str
    name: str
    sources: dict[str, FieldSource] = field(default_factory=dict)
    known_in: set[str] = field(default_factory=set)
    """Subgraphs whose schema has the field at all (incl. ``@external`` ones)."""
    external_in: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ProgressiveOverride:
    """A labelled ``@override(from:, label:)``: ``to`` takes the field over only while the
    label is active for a request (``percent(N)``: in N% of requests)."""

    label: str
    type_name: str
    field_name: str
    from_graph: str
    to_source: FieldSource

    @property
    def percent(self) -> float | None:
        """N of ``percent(N)``, or None for other (feature-flag style) labels."""
        if self.label.startswith("percent(") and self.label.endswith(")"):
            try:
                return float(self.label[8:-1])
            except ValueError:
                return None
        return None


@dataclass(frozen=True, slots=True)
class SubgraphInfo:
    name: str
    enum_value: str
    url: str


def parse_selection(fields: str) -> SelectionSetNode:
    """Parse a FieldSet string (``"id org { id }"``) into a selection set."""
    try:
        doc = parse("{" + fields + "}", no_location=True)
    except GraphQLError as exc:
        raise SupergraphError(f"invalid field set {fields!r}: {exc.message}") from exc
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    return op.selection_set


def arg_value(directive: DirectiveNode, name: str) -> ValueNode | None:
    for arg in directive.arguments or ():
        if arg.name.value == name:
            return arg.value
    return None


def str_arg(directive: DirectiveNode, name: str) -> str | None:
    value = arg_value(directive, name)
    if isinstance(value, StringValueNode):
        return value.value
    if isinstance(value, EnumValueNode):
        return value.value
    return None


def bool_arg(directive: DirectiveNode, name: str, default: bool) -> bool:
    value = arg_value(directive, name)
    return value.value if isinstance(value, BooleanValueNode) else default


def named_type(type_node: TypeNode) -> str:
    while isinstance(type_node, ListTypeNode | NonNullTypeNode):
        type_node = type_node.type
    assert isinstance(type_node, NamedTypeNode)
    return type_node.name.value


@dataclass(slots=True)
class LinkNames:
    """Directive names after ``@link(as:)`` renames."""

    join: str = "join"
    link: str = "link"
    inaccessible: str = "inaccessible"
    prefixes: set[str] = field(default_factory=set)
    spec_directives: set[str] = field(default_factory=set)
