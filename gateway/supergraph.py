"""A supergraph SDL (link v1 + join v0.3+) read into an API schema and planning metadata.

The planner never looks at join directives itself: it asks this module which
subgraphs define a type, which keys they resolve it by, and which subgraphs can
resolve a field (with what ``@requires``/``@provides``). Everything here is
computed once, when the gateway loads its supergraph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueNode,
    FieldDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    OperationType,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    ValueNode,
    build_ast_schema,
    parse,
)

from shared.errors import ThreadlineError

_KEPT_DIRECTIVES = frozenset({"deprecated", "specifiedBy", "oneOf"})


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
    representations typed as that interface).
    """

    graph: str
    via: str
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None


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


def _arg(directive: DirectiveNode, name: str) -> ValueNode | None:
    for arg in directive.arguments or ():
        if arg.name.value == name:
            return arg.value
    return None


def _str_arg(directive: DirectiveNode, name: str) -> str | None:
    value = _arg(directive, name)
    if isinstance(value, StringValueNode):
        return value.value
    if isinstance(value, EnumValueNode):
        return value.value
    return None


def _bool_arg(directive: DirectiveNode, name: str, default: bool) -> bool:
    value = _arg(directive, name)
    return value.value if isinstance(value, BooleanValueNode) else default


def _named(type_node: TypeNode) -> str:
    while isinstance(type_node, ListTypeNode | NonNullTypeNode):
        type_node = type_node.type
    assert isinstance(type_node, NamedTypeNode)
    return type_node.name.value


@dataclass(slots=True)
class _Names:
    """Directive names after ``@link(as:)`` renames."""

    join: str = "join"
    link: str = "link"
    inaccessible: str = "inaccessible"
    prefixes: set[str] = field(default_factory=set)
    spec_directives: set[str] = field(default_factory=set)


class Supergraph:
    """The parsed supergraph: API schema, full schema and per-subgraph metadata."""

    def __init__(self, sdl: str, url_overrides: dict[str, str] | None = None) -> None:
        try:
            document = parse(sdl)
        except GraphQLError as exc:
            raise SupergraphError(f"supergraph SDL does not parse: {exc.message}") from exc
        self.sdl = sdl
        self._names = self._read_links(document)
        self.subgraphs: dict[str, SubgraphInfo] = {}
        self._graph_by_enum: dict[str, str] = {}
        self.types: dict[str, TypeMeta] = {}
        self.fields: dict[tuple[str, str], FieldMeta] = {}
        self.root_types: dict[OperationType, str] = {}
        self._read_graphs(document, url_overrides or {})
        self._read_root_types(document)
        self._read_types(document)
        self._add_interface_object_sources()
        self._add_external_key_sources()
        try:
            self.full_schema = build_ast_schema(document, assume_valid_sdl=True)
            self.api_schema: GraphQLSchema = build_ast_schema(
                self._api_document(document), assume_valid_sdl=False
            )
        except (GraphQLError, TypeError) as exc:
            raise SupergraphError(f"supergraph does not build a schema: {exc}") from exc
        self.interface_object_names = frozenset(
            name for name, meta in self.types.items() if meta.interface_object_graphs
        )

    # -- reading ---------------------------------------------------------------------------

    def _read_links(self, document: DocumentNode) -> _Names:
        names = _Names()
        for definition in document.definitions:
            if not isinstance(definition, SchemaDefinitionNode):
                continue
            for directive in definition.directives or ():
                url = _str_arg(directive, "url")
                if url is None:
                    continue
                spec = url.rstrip("/").split("/")[-2] if "/" in url else url
                alias = _str_arg(directive, "as") or spec
                names.prefixes.add(alias)
                if spec == "join":
                    names.join = alias
                elif spec == "inaccessible":
                    names.inaccessible = alias
                elif spec != "link":
                    names.spec_directives.add(alias)
        names.prefixes.update({"link", names.join})
        if not any(isinstance(d, SchemaDefinitionNode) for d in document.definitions):
            raise SupergraphError("supergraph has no schema definition with @link directives")
        return names

    def _read_graphs(self, document: DocumentNode, overrides: dict[str, str]) -> None:
        enum_name = f"{self._names.join}__Graph"
        for definition in document.definitions:
            if (
                isinstance(definition, EnumTypeDefinitionNode)
                and definition.name.value == enum_name
            ):
                for value in definition.values or ():
                    for directive in value.directives or ():
                        if directive.name.value == f"{self._names.join}__graph":
                            name = _str_arg(directive, "name") or value.name.value.lower()
                            url = overrides.get(name, _str_arg(directive, "url") or "")
                            self.subgraphs[name] = SubgraphInfo(name, value.name.value, url)
                            self._graph_by_enum[value.name.value] = name
        if not self.subgraphs:
            raise SupergraphError(f"supergraph has no {enum_name} enum: is this a join-spec SDL?")

    def _read_root_types(self, document: DocumentNode) -> None:
        for definition in document.definitions:
            if isinstance(definition, SchemaDefinitionNode):
                for op in definition.operation_types:
                    self.root_types[op.operation] = op.type.name.value
        if not self.root_types:
            self.root_types[OperationType.QUERY] = "Query"

    def _graph(self, directive: DirectiveNode) -> str | None:
        value = _str_arg(directive, "graph")
        return None if value is None else self._graph_by_enum.get(value)

    def _read_types(self, document: DocumentNode) -> None:
        join = self._names.join
        implementers: list[tuple[str, str, str]] = []
        for definition in document.definitions:
            if not isinstance(definition, TypeDefinitionNode):
                continue
            name = definition.name.value
            if name.split("__")[0] in self._names.prefixes and "__" in name:
                continue
            meta = TypeMeta(name, type(definition).__name__)
            self.types[name] = meta
            for directive in definition.directives or ():
                dname = directive.name.value
                graph = self._graph(directive)
                if graph is None:
                    continue
                if dname == f"{join}__type":
                    if graph not in meta.graphs:
                        meta.graphs.append(graph)
                    key = _str_arg(directive, "key")
                    if key is not None:
                        meta.keys.setdefault(graph, []).append(
                            KeyDef(
                                graph,
                                key,
                                parse_selection(key),
                                _bool_arg(directive, "resolvable", True),
                            )
                        )
                    if _bool_arg(directive, "isInterfaceObject", False):
                        meta.interface_object_graphs.add(graph)
                elif dname == f"{join}__implements":
                    iface = _str_arg(directive, "interface")
                    if iface:
                        implementers.append((iface, graph, name))
                elif dname == f"{join}__unionMember":
                    member = _str_arg(directive, "member")
                    if member:
                        meta.members_by_graph.setdefault(graph, set()).add(member)
            if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
                for fdef in definition.fields or ():
                    self._read_field(meta, fdef)
        for iface, graph, name in implementers:
            if iface in self.types:
                self.types[iface].members_by_graph.setdefault(graph, set()).add(name)

    def _read_field(self, meta: TypeMeta, fdef: FieldDefinitionNode) -> None:
        join = self._names.join
        fmeta = FieldMeta(meta.name, fdef.name.value)
        self.fields[(meta.name, fdef.name.value)] = fmeta
        entries = [d for d in fdef.directives or () if d.name.value == f"{join}__field"]
        if not entries:
            for graph in meta.graphs:
                fmeta.sources[graph] = FieldSource(graph, meta.name)
                fmeta.known_in.add(graph)
            return
        overridden: set[str] = set()
        for directive in entries:
            field_graph = self._graph(directive)
            if field_graph is None:
                continue  # a field only reachable through an @interfaceObject
            graph = field_graph
            fmeta.known_in.add(graph)
            source = _str_arg(directive, "override")
            if source and _str_arg(directive, "overrideLabel") is None:
                # Overrides naming a subgraph that does not exist change nothing.
                overridden.update(g for g in self.subgraphs if g == source)
            if _bool_arg(directive, "external", False):
                fmeta.external_in.add(graph)
                continue
            if _bool_arg(directive, "usedOverridden", False):
                continue
            requires = _str_arg(directive, "requires")
            provides = _str_arg(directive, "provides")
            fmeta.sources[graph] = FieldSource(
                graph,
                meta.name,
                parse_selection(requires) if requires else None,
                parse_selection(provides) if provides else None,
            )
        for graph in overridden:
            fmeta.sources.pop(graph, None)

    def _add_external_key_sources(self) -> None:
        """Key fields a subgraph marks ``@external`` (Fed 1 style) are still its to return."""
        for meta in self.types.values():
            for graph, keys in meta.keys.items():
                for key in keys:
                    for selection in key.selection.selections:
                        name = getattr(getattr(selection, "name", None), "value", None)
                        fmeta = self.fields.get((meta.name, name)) if name else None
                        if fmeta is not None and graph in fmeta.external_in:
                            fmeta.sources.setdefault(graph, FieldSource(graph, meta.name))

    def _add_interface_object_sources(self) -> None:
        """Concrete types gain the fields an ``@interfaceObject`` subgraph adds to the interface."""
        for iface in self.types.values():
            if not iface.interface_object_graphs or iface.kind != "InterfaceTypeDefinitionNode":
                continue
            implementations = {t for members in iface.members_by_graph.values() for t in members}
            for (type_name, fname), imeta in list(self.fields.items()):
                if type_name != iface.name:
                    continue
                for graph in iface.interface_object_graphs:
                    if graph not in imeta.sources:
                        continue
                    for impl in implementations:
                        fmeta = self.fields.get((impl, fname))
                        if fmeta is not None and graph not in fmeta.sources:
                            src = imeta.sources[graph]
                            fmeta.sources[graph] = FieldSource(
                                graph, iface.name, src.requires, src.provides
                            )

    # -- API schema ------------------------------------------------------------------------

    def _is_machinery(self, name: str) -> bool:
        return "__" in name and name.split("__")[0] in self._names.prefixes

    def _inaccessible(self, directives: tuple[DirectiveNode, ...] | None) -> bool:
        return any(d.name.value == self._names.inaccessible for d in directives or ())

    def _keep(self, directives: tuple[ConstDirectiveNode, ...] | None) -> tuple[Any, ...]:
        return tuple(d for d in directives or () if d.name.value in _KEPT_DIRECTIVES)

    def _api_document(self, document: DocumentNode) -> DocumentNode:
        hidden: set[str] = set()
        for definition in document.definitions:
            if isinstance(definition, TypeDefinitionNode) and (
                self._inaccessible(definition.directives)
                or self._is_machinery(definition.name.value)
            ):
                hidden.add(definition.name.value)
        spec_directives = {self._names.link, self._names.inaccessible}
        spec_directives |= self._names.spec_directives
        definitions: list[Any] = []
        for definition in document.definitions:
            if isinstance(definition, SchemaDefinitionNode):
                definitions.append(
                    SchemaDefinitionNode(
                        directives=(),
                        operation_types=definition.operation_types,
                        description=definition.description,
                    )
                )
            elif isinstance(definition, DirectiveDefinitionNode):
                dname = definition.name.value
                if dname in spec_directives or self._is_machinery(dname):
                    continue
                definitions.append(definition)
            elif isinstance(definition, TypeDefinitionNode):
                if definition.name.value in hidden:
                    continue
                definitions.append(self._api_type(definition, hidden))
        return DocumentNode(definitions=tuple(definitions))

    def _api_type(self, definition: TypeDefinitionNode, hidden: set[str]) -> TypeDefinitionNode:
        kwargs: dict[str, Any] = {
            "name": definition.name,
            "description": definition.description,
            "directives": self._keep(definition.directives),
        }
        if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            kwargs["interfaces"] = tuple(
                i for i in definition.interfaces or () if i.name.value not in hidden
            )
            kwargs["fields"] = tuple(
                FieldDefinitionNode(
                    name=f.name,
                    description=f.description,
                    type=f.type,
                    directives=self._keep(f.directives),
                    arguments=tuple(
                        a.__class__(
                            name=a.name,
                            description=a.description,
                            type=a.type,
                            default_value=a.default_value,
                            directives=self._keep(a.directives),
                        )
                        for a in f.arguments or ()
                        if not self._inaccessible(a.directives)
                    ),
                )
                for f in definition.fields or ()
                if not self._inaccessible(f.directives) and _named(f.type) not in hidden
            )
        elif isinstance(definition, UnionTypeDefinitionNode):
            kwargs["types"] = tuple(t for t in definition.types or () if t.name.value not in hidden)
        elif isinstance(definition, EnumTypeDefinitionNode):
            kwargs["values"] = tuple(
                v.__class__(
                    name=v.name, description=v.description, directives=self._keep(v.directives)
                )
                for v in definition.values or ()
                if not self._inaccessible(v.directives)
            )
        elif isinstance(definition, InputObjectTypeDefinitionNode):
            kwargs["fields"] = tuple(
                f.__class__(
                    name=f.name,
                    description=f.description,
                    type=f.type,
                    default_value=f.default_value,
                    directives=self._keep(f.directives),
                )
                for f in definition.fields or ()
                if not self._inaccessible(f.directives)
            )
        elif isinstance(definition, ScalarTypeDefinitionNode):
            pass
        return definition.__class__(**kwargs)

    # -- queries ---------------------------------------------------------------------------

    def field(self, type_name: str, field_name: str) -> FieldMeta | None:
        return self.fields.get((type_name, field_name))

    def type_meta(self, type_name: str) -> TypeMeta | None:
        return self.types.get(type_name)

    def graph_has_type(self, graph: str, type_name: str) -> bool:
        meta = self.types.get(type_name)
        return meta is not None and graph in meta.graphs

    def url(self, graph: str) -> str:
        return self.subgraphs[graph].url
