"""Where fields can be resolved without a jump, and what a choice of subgraph costs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from graphql import (
    FieldNode,
    GraphQLSchema,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_object_type,
)

from gateway.planner.collect import CollectedFields, FieldCollector
from gateway.supergraph import FieldMeta, FieldSource, Supergraph

_MAX_DEPTH_COST = 8
UNREACHABLE = 1000


class Provided:
    """Fields a ``@provides`` makes resolvable locally, below the providing field."""

    __slots__ = ("collector", "sets")

    def __init__(self, sets: Sequence[SelectionSetNode], collector: FieldCollector) -> None:
        self.sets = tuple(sets)
        self.collector = collector

    def fields(self, runtime: str) -> CollectedFields:
        return self.collector.collect(self.sets, runtime)

    def child(self, runtime: str, name: str) -> Provided | None:
        nodes = [n for n in self.fields(runtime).get(name, ()) if n.name.value == name]
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        return Provided(sets, self.collector) if sets else None

    def covers(self, runtime: str, name: str) -> bool:
        return any(n.name.value == name for n in self.fields(runtime).get(name, ()))


class Locality:
    """Questions about one subgraph's reach, shared by planning and cost estimates."""

    def __init__(
        self,
        supergraph: Supergraph,
        collector: FieldCollector,
        fields: dict[tuple[str, str], FieldMeta] | None = None,
    ) -> None:
        self.sg = supergraph
        self.fields = supergraph.fields if fields is None else fields
        self.schema: GraphQLSchema = supergraph.full_schema
        self.collector = collector
        self.plain = FieldCollector(self.schema, {}, {})
        self.forwarded_directives = supergraph.forwarded_directives

    def field(self, parent: str, name: str) -> FieldMeta | None:
        """Field metadata as this plan sees it (progressive overrides applied)."""
        return self.fields.get((parent, name))

    def is_local(
        self, graph: str, parent: str, fmeta: FieldMeta, provided: Provided | None
    ) -> bool:
        source = fmeta.sources.get(graph)
        if source is not None and source.via == parent and source.requires is None:
            return True
        return (
            provided is not None and graph in fmeta.known_in and provided.covers(parent, fmeta.name)
        )

    def possible_runtimes(self, graph: str, abstract: str) -> list[str]:
        api_type = self.schema.type_map[abstract]
        meta = self.sg.types.get(abstract)
        members = meta.members_by_graph.get(graph) if meta is not None else None
        out = []
        for obj in self.schema.get_possible_types(api_type):  # type: ignore[arg-type]
            if not self.sg.graph_has_type(graph, obj.name):
                continue
            if members is not None and obj.name not in members:
                continue
            out.append(obj.name)
        return out

    def field_cost(self, graph: str, parent: str, nodes: Sequence[FieldNode]) -> int:
        fmeta = self.field(parent, nodes[0].name.value)
        if fmeta is None:
            return 0
        field_def = self.schema.type_map[parent].fields[fmeta.name]  # type: ignore[attr-defined]
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            return 0
        source = fmeta.sources.get(graph)
        provided = (
            Provided([source.provides], self.plain)
            if source is not None and source.provides is not None
            else None
        )
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        return self.type_cost(graph, named.name, sets, provided, 0)

    def type_cost(
        self,
        graph: str,
        type_name: str,
        sets: Sequence[SelectionSetNode],
        provided: Provided | None,
        depth: int,
    ) -> int:
        if depth > _MAX_DEPTH_COST:
            return 0
        gtype = self.schema.type_map[type_name]
        meta = self.sg.types.get(type_name)
        if is_object_type(gtype) or (meta is not None and graph in meta.interface_object_graphs):
            runtimes = [type_name]
        else:
            runtimes = self.possible_runtimes(graph, type_name)
        total = 0
        for runtime in runtimes:
            # Fields jumping to the same subgraph from one object share one fetch.
            jumps: set[str] = set()
            for nodes in self.collector.collect(sets, runtime).values():
                name = nodes[0].name.value
                fmeta = self.field(runtime, name)
                if name == "__typename" or fmeta is None:
                    continue
                field_def = self.schema.type_map[runtime].fields[name]  # type: ignore[attr-defined]
                named = get_named_type(field_def.type)
                sub_sets = [n.selection_set for n in nodes if n.selection_set is not None]
                if self.is_local(graph, runtime, fmeta, provided):
                    if not is_leaf_type(named):
                        child = provided.child(runtime, name) if provided is not None else None
                        total += self.type_cost(graph, named.name, sub_sets, child, depth + 1)
                    continue
                target = self._jump_target(fmeta, jumps)
                if target is None:
                    total += UNREACHABLE
                    continue
                if target.graph not in jumps:
                    jumps.add(target.graph)
                    total += 1
                if not is_leaf_type(named):
                    child = (
                        Provided([target.provides], self.plain)
                        if target.provides is not None
                        else None
                    )
                    total += self.type_cost(target.graph, named.name, sub_sets, child, depth + 1)
        return total

    def _jump_target(self, fmeta: FieldMeta, jumps: set[str]) -> FieldSource | None:
        """The subgraph a cost estimate assumes a non-local field jumps to (one already
        jumped to from this object first, else the first with a resolvable key)."""
        first: FieldSource | None = None
        for graph, source in fmeta.sources.items():
            via = self.sg.types.get(source.via)
            if via is None or not via.resolvable_keys(graph):
                continue
            if graph in jumps:
                return source
            if first is None:
                first = source
        return first

    def locally_resolvable(self, graph: str, parent: str, selection: SelectionSetNode) -> bool:
        return self._resolvable(graph, parent, [selection])

    def _resolvable(self, graph: str, parent: str, sets: Iterable[SelectionSetNode]) -> bool:
        for nodes in self.plain.collect(list(sets), parent).values():
            name = nodes[0].name.value
            if name == "__typename":
                continue
            fmeta = self.field(parent, name)
            if fmeta is None or not self.is_local(graph, parent, fmeta, None):
                return False
            field_def = self.schema.type_map[parent].fields[name]  # type: ignore[attr-defined]
            named = get_named_type(field_def.type)
            sub = [n.selection_set for n in nodes if n.selection_set is not None]
            if sub and not is_abstract_type(named) and not self._resolvable(graph, named.name, sub):
                return False
        return True
