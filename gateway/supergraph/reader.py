"""Reads a supergraph SDL (link v1 + join v0.3+) into an API schema and planning metadata.

The planner never looks at join directives itself: it asks this module which
subgraphs define a type, which keys they resolve it by, and which subgraphs can
resolve a field (with what ``@requires``/``@provides``). Everything here is
computed once, when the gateway loads its supergraph.
"""

from graphql import (
    DirectiveLocation,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    OperationType,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    build_ast_schema,
    parse,
    print_ast,
)

from gateway.supergraph.api_schema import ApiSchemaFilter
from gateway.supergraph.model import (
    FieldMeta,
    FieldSource,
    KeyDef,
    LinkNames,
    ProgressiveOverride,
    SubgraphInfo,
    SupergraphError,
    TypeMeta,
    bool_arg,
    parse_selection,
    str_arg,
)

_NOT_FORWARDED = frozenset({"skip", "include", "defer", "stream"})
"""Resolved by the planner (or unsupported), never sent to a subgraph."""


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
        self.progressive: list[ProgressiveOverride] = []
        self._fields_by_labels: dict[frozenset[str], dict[tuple[str, str], FieldMeta]] = {}
        self._read_graphs(document, url_overrides or {})
        self._read_root_types(document)
        self._read_types(document)
        self._add_interface_object_sources()
        self._add_external_key_sources()
        try:
            self.full_schema = build_ast_schema(document, assume_valid_sdl=True)
            self.api_schema: GraphQLSchema = build_ast_schema(
                ApiSchemaFilter(self._names).document(document), assume_valid_sdl=False
            )
        except (GraphQLError, TypeError) as exc:
            raise SupergraphError(f"supergraph does not build a schema: {exc}") from exc
        # Executable directives composition kept (defined in every subgraph) travel on
        # client fields to the subgraphs, as Apollo's planner does.
        self.forwarded_directives = frozenset(
            d.name
            for d in self.full_schema.directives
            if DirectiveLocation.FIELD in d.locations and d.name not in _NOT_FORWARDED
        )
        self.interface_object_names = frozenset(
            name for name, meta in self.types.items() if meta.interface_object_graphs
        )

    # -- reading ---------------------------------------------------------------------------

    def _read_links(self, document: DocumentNode) -> LinkNames:
        names = LinkNames()
        for definition in document.definitions:
            if not isinstance(definition, SchemaDefinitionNode):
                continue
            for directive in definition.directives or ():
                url = str_arg(directive, "url")
                if url is None:
                    continue
                spec = url.rstrip("/").split("/")[-2] if "/" in url else url
                alias = str_arg(directive, "as") or spec
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
                            name = str_arg(directive, "name") or value.name.value.lower()
                            url = overrides.get(name, str_arg(directive, "url") or "")
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
        value = str_arg(directive, "graph")
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
                    key = str_arg(directive, "key")
                    if key is not None:
                        meta.keys.setdefault(graph, []).append(
                            KeyDef(
                                graph,
                                key,
                                parse_selection(key),
                                bool_arg(directive, "resolvable", True),
                            )
                        )
                    if bool_arg(directive, "isInterfaceObject", False):
                        meta.interface_object_graphs.add(graph)
                elif dname == f"{join}__implements":
                    iface = str_arg(directive, "interface")
                    if iface:
                        implementers.append((iface, graph, name))
                elif dname == f"{join}__unionMember":
                    member = str_arg(directive, "member")
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
        api_type = print_ast(fdef.type)
        for directive in entries:
            field_graph = self._graph(directive)
            if field_graph is None:
                continue  # a field only reachable through an @interfaceObject
            graph = field_graph
            fmeta.known_in.add(graph)
            source = str_arg(directive, "override")
            label = str_arg(directive, "overrideLabel")
            if source and label is None:
                # Overrides naming a subgraph that does not exist change nothing.
                overridden.update(g for g in self.subgraphs if g == source)
            if bool_arg(directive, "external", False):
                fmeta.external_in.add(graph)
                continue
            if bool_arg(directive, "usedOverridden", False) and label is None:
                continue  # kept only to supply @requires; a labelled one may still resolve
            requires = str_arg(directive, "requires")
            provides = str_arg(directive, "provides")
            own_type = str_arg(directive, "type")
            field_source = FieldSource(
                graph,
                meta.name,
                parse_selection(requires) if requires else None,
                parse_selection(provides) if provides else None,
                own_type if own_type is not None and own_type != api_type else None,
            )
            if source and label is not None and source in self.subgraphs:
                # Progressive override: by default (label inactive) the field stays with
                # the subgraph it overrides; fields_for() applies it per request.
                self.progressive.append(
                    ProgressiveOverride(label, meta.name, fmeta.name, source, field_source)
                )
                continue
            fmeta.sources[graph] = field_source
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

    # -- queries ---------------------------------------------------------------------------

    @property
    def override_labels(self) -> frozenset[str]:
        return frozenset(o.label for o in self.progressive)

    def fields_for(self, active_labels: frozenset[str]) -> dict[tuple[str, str], FieldMeta]:
        """Field metadata with the progressive overrides of ``active_labels`` applied."""
        if not active_labels:
            return self.fields
        cached = self._fields_by_labels.get(active_labels)
        if cached is not None:
            return cached
        fields = dict(self.fields)
        for override in self.progressive:
            if override.label not in active_labels:
                continue
            key = (override.type_name, override.field_name)
            base = fields[key]
            sources = dict(base.sources)
            sources.pop(override.from_graph, None)
            sources[override.to_source.graph] = override.to_source
            fields[key] = FieldMeta(
                base.type_name, base.name, sources, set(base.known_in), set(base.external_in)
            )
        self._fields_by_labels[active_labels] = fields
        return fields

    def field(self, type_name: str, field_name: str) -> FieldMeta | None:
        return self.fields.get((type_name, field_name))

    def type_meta(self, type_name: str) -> TypeMeta | None:
        return self.types.get(type_name)

    def graph_has_type(self, graph: str, type_name: str) -> bool:
        meta = self.types.get(type_name)
        return meta is not None and graph in meta.graphs

    def url(self, graph: str) -> str:
        return self.subgraphs[graph].url
