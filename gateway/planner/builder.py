"""Builds fetch groups for one operation: the heart of query planning.

The builder walks the client's selections with a "current subgraph". A field the
current subgraph can resolve (own field, or ``@provides`` on the way in) joins the
current fetch; any other field jumps to an entity fetch on a subgraph that can
resolve it, keyed by response path, subgraph and dependencies. The key fields
(and ``@requires`` inputs) such a jump needs are planned as ordinary fields under
internal aliases — so multi-hop keys and chains of requires fall out of the same
recursion, and the new fetch depends on every fetch that supplies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graphql import (
    DirectiveNode,
    FieldNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    is_object_type,
)

from gateway.planner.collect import CollectedFields, FieldCollector
from gateway.planner.errors import PlanningError
from gateway.planner.locality import UNREACHABLE, Locality, Provided
from gateway.planner.selections import (
    OWN_TYPE_PREFIX,
    SelSet,
    internal_alias,
    print_arguments,
)
from gateway.supergraph import FieldMeta, FieldSource, Supergraph


@dataclass(slots=True)
class Group:
    id: int
    graph: str
    entity: bool
    path: tuple[str, ...]
    deps: frozenset[int]
    selection: SelSet = field(default_factory=SelSet)
    reps: dict[str, tuple[str, list[SelectionSetNode]]] = field(default_factory=dict)
    unalias: bool = False
    """Some field is aliased for its subgraph-specific type (``OWN_TYPE_PREFIX``)."""
    runtime_keys: dict[str, set[str]] = field(default_factory=dict)
    """@interfaceObject fetches: the top-level response keys each runtime type asked for."""


class GroupBuilder(Locality):
    """Plans one operation (or one mutation step) into fetch groups."""

    def __init__(
        self,
        supergraph: Supergraph,
        collector: FieldCollector,
        start_id: int,
        fields: dict[tuple[str, str], FieldMeta] | None = None,
    ) -> None:
        super().__init__(supergraph, collector, fields)
        self.groups: list[Group] = []
        self._by_key: dict[tuple[tuple[str, ...], str, frozenset[int], str | None], Group] = {}
        self._at_path: dict[tuple[tuple[str, ...], str], int] = {}
        self._touched: list[set[int]] = []
        self._in_progress: set[tuple[str, tuple[str, ...], str]] = set()
        self._next_id = start_id

    # -- groups ----------------------------------------------------------------------------

    def new_group(
        self,
        graph: str,
        entity: bool,
        path: tuple[str, ...],
        deps: frozenset[int],
        split: str | None = None,
    ) -> Group:
        group = Group(self._next_id, graph, entity, path, deps)
        self._next_id += 1
        self.groups.append(group)
        if entity:
            self._by_key[(path, graph, deps, split)] = group
            self._at_path[(path, graph)] = self._at_path.get((path, graph), 0) + 1
        return group

    def _touch(self, group: Group) -> None:
        for touched in self._touched:
            touched.add(group.id)

    # -- fields ----------------------------------------------------------------------------

    def add_local_field(
        self,
        group: Group,
        sel: SelSet,
        parent: str,
        response_key: str,
        nodes: Sequence[FieldNode],
        path: tuple[str, ...],
        provided: Provided | None,
        internal: bool,
        source: FieldSource | None,
    ) -> None:
        first = nodes[0]
        name = first.name.value
        parent_type = self.schema.type_map[parent]
        field_def = parent_type.fields[name]  # type: ignore[attr-defined]
        named = get_named_type(field_def.type)
        composite = not is_leaf_type(named)
        directives: tuple[DirectiveNode, ...] = ()
        if internal:
            key = internal_alias(first)
        else:
            key = response_key
            if source is not None and source.own_type is not None:
                key = OWN_TYPE_PREFIX + response_key
                group.unalias = True
            if first.directives and self.forwarded_directives:
                directives = tuple(
                    d for d in first.directives if d.name.value in self.forwarded_directives
                )
        sel_field = sel.add_field(key, name, tuple(first.arguments or ()), composite, directives)
        self._touch(group)
        if not composite or sel_field.sub is None:
            return
        child_provided: Provided | None = None
        if provided is not None:
            child_provided = provided.child(parent, name)
        elif source is not None and source.provides is not None:
            child_provided = Provided([source.provides], self.plain)
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        self.plan_type(
            group, sel_field.sub, named.name, sets, (*path, key), child_provided, internal
        )

    def plan_fields(
        self,
        group: Group,
        sel: SelSet,
        parent: str,
        fields: CollectedFields,
        path: tuple[str, ...],
        provided: Provided | None,
        internal: bool,
    ) -> None:
        for response_key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                continue  # every subgraph selection already carries it
            fmeta = self.field(parent, name)
            if fmeta is None:
                raise PlanningError(f"the supergraph has no field {parent}.{name}")
            if self.is_local(group.graph, parent, fmeta, provided) and not self._better_elsewhere(
                group.graph, parent, fmeta, nodes, path, provided
            ):
                source = fmeta.sources.get(group.graph)
                self.add_local_field(
                    group, sel, parent, response_key, nodes, path, provided, internal, source
                )
            else:
                self._plan_jump(group, sel, parent, response_key, nodes, path, provided, internal)

    def _better_elsewhere(
        self,
        graph: str,
        parent: str,
        fmeta: FieldMeta,
        nodes: Sequence[FieldNode],
        path: tuple[str, ...],
        provided: Provided | None,
    ) -> bool:
        """A local field whose value-type subtree this subgraph cannot complete (a shareable
        value type split across subgraphs) is better fetched whole from another subgraph."""
        if provided is not None or len(fmeta.sources) < 2 or nodes[0].selection_set is None:
            return False
        local = self.field_cost(graph, parent, nodes)
        if local < UNREACHABLE:
            return False
        other = self._choose_source(graph, parent, fmeta, nodes, path, exclude=graph)
        return other is not None and self.field_cost(other.graph, other.via, nodes) < local

    def _plan_jump(
        self,
        group: Group,
        sel: SelSet,
        parent: str,
        response_key: str,
        nodes: Sequence[FieldNode],
        path: tuple[str, ...],
        provided: Provided | None,
        internal: bool,
    ) -> None:
        name = nodes[0].name.value
        fmeta = self.fields[(parent, name)]
        source = self._choose_source(group.graph, parent, fmeta, nodes, path)
        if source is None:
            raise PlanningError(
                f"cannot plan {parent}.{name} from subgraph {group.graph!r}: no subgraph "
                f"resolves it through a resolvable @key of {parent}; check the subgraphs' keys"
            )
        target, tsel = self.entity_jump(group, sel, parent, path, source, provided)
        if source.via != parent:
            # An @interfaceObject fetch answers every runtime type alike: remember which
            # keys each runtime asked for (the executor merges only those), and give a
            # runtime its own fetch if it needs another field under the same key.
            key = internal_alias(nodes[0]) if internal else response_key
            existing = tsel.fields.get(key)
            if existing is not None and (
                existing.name != nodes[0].name.value
                or print_arguments(existing.arguments)
                != print_arguments(tuple(nodes[0].arguments or ()))
            ):
                if parent not in target.runtime_keys:
                    target.reps.pop(parent, None)  # this runtime needs nothing else there
                target, tsel = self.entity_jump(group, sel, parent, path, source, provided, parent)
            target.runtime_keys.setdefault(parent, set()).add(key)
        self.add_local_field(
            target, tsel, source.via, response_key, nodes, path, None, internal, source
        )

    def _choose_source(
        self,
        current: str,
        parent: str,
        fmeta: FieldMeta,
        nodes: Sequence[FieldNode],
        path: tuple[str, ...],
        exclude: str | None = None,
    ) -> FieldSource | None:
        best: tuple[int, int, FieldSource] | None = None
        order = list(self.sg.subgraphs)
        for graph, source in fmeta.sources.items():
            if graph == exclude:
                continue
            via_meta = self.sg.types.get(source.via)
            if via_meta is None or not via_meta.resolvable_keys(graph):
                continue
            if (parent, path, graph) in self._in_progress:
                continue  # already waiting on this subgraph's key: going there again loops
            cost = self.field_cost(graph, source.via, nodes)
            if not any(
                self.locally_resolvable(current, parent, k.selection)
                for k in via_meta.resolvable_keys(graph)
            ):
                cost += 1  # its key must be fetched first: one more hop
            cost += 0 if self._at_path.get((path, graph)) else 1
            cost += 1 if source.requires is not None else 0
            rank = (cost, order.index(graph), source)
            if best is None or rank[:2] < best[:2]:
                best = rank
        return None if best is None else best[2]

    def entity_jump(
        self,
        group: Group,
        sel: SelSet,
        parent: str,
        path: tuple[str, ...],
        source: FieldSource,
        provided: Provided | None,
        split: str | None = None,
    ) -> tuple[Group, SelSet]:
        """Make (or reuse) the entity fetch resolving ``source`` for objects at ``path``
        (``split``: a separate fetch for that runtime type)."""
        guard = (parent, path, source.graph)
        if guard in self._in_progress:
            raise PlanningError(
                f"cyclic key dependency reaching {parent} in subgraph {source.graph!r} at "
                f"{'.'.join(path) or 'the root'}: no subgraph can supply its key fields"
            )
        self._in_progress.add(guard)
        try:
            keys = self.sg.types[source.via].resolvable_keys(source.graph)
            key = next(
                (k for k in keys if self.locally_resolvable(group.graph, parent, k.selection)),
                keys[0],
            )
            touched: set[int] = set()
            self._touched.append(touched)
            try:
                self.plan_required(group, sel, parent, key.selection, path, provided)
                if source.requires is not None:
                    self.plan_required(group, sel, parent, source.requires, path, provided)
            finally:
                self._touched.pop()
            deps = frozenset(touched | {group.id})
            target = self._by_key.get((path, source.graph, deps, split))
            if target is None:
                target = self.new_group(source.graph, True, path, deps, split)
            rep = target.reps.setdefault(parent, (source.via, []))
            for needed in (key.selection, source.requires):
                if needed is not None and all(needed is not s for s in rep[1]):
                    rep[1].append(needed)
            return target, target.selection.fragment(source.via)
        finally:
            self._in_progress.discard(guard)

    def plan_required(
        self,
        group: Group,
        sel: SelSet,
        parent: str,
        selection: SelectionSetNode,
        path: tuple[str, ...],
        provided: Provided | None,
    ) -> None:
        fields = self.plain.collect([selection], parent)
        self.plan_fields(group, sel, parent, fields, path, provided, internal=True)

    # -- types -----------------------------------------------------------------------------

    def plan_type(
        self,
        group: Group,
        sel: SelSet,
        type_name: str,
        sets: Sequence[SelectionSetNode],
        path: tuple[str, ...],
        provided: Provided | None,
        internal: bool,
        skip_keys: frozenset[str] = frozenset(),
    ) -> None:
        collector = self.plain if internal else self.collector
        gtype = self.schema.type_map[type_name]
        if is_object_type(gtype):
            fields = collector.collect(sets, type_name)
            fields = {k: v for k, v in fields.items() if k not in skip_keys}
            self.plan_fields(group, sel, type_name, fields, path, provided, internal)
            return
        graph = group.graph
        meta = self.sg.types.get(type_name)
        if meta is not None and graph in meta.interface_object_graphs:
            self._plan_interface_object(group, sel, type_name, sets, path, provided, internal)
            return
        direct = collector.collect(sets, type_name)
        if not collector.has_type_conditions(sets, type_name) and all(
            nodes[0].name.value == "__typename"
            or self._local_on_every_runtime(graph, type_name, nodes[0].name.value, provided)
            for nodes in direct.values()
        ):
            fields = {k: v for k, v in direct.items() if k not in skip_keys}
            self.plan_fields(group, sel, type_name, fields, path, provided, internal)
            return
        for runtime in self.possible_runtimes(graph, type_name):
            fields = {
                k: v
                for k, v in collector.collect(sets, runtime).items()
                if v[0].name.value != "__typename" and k not in skip_keys
            }
            if fields:
                sub = sel.fragment(runtime)
                self.plan_fields(group, sub, runtime, fields, path, provided, internal)

    def _local_on(self, graph: str, parent: str, name: str, provided: Provided | None) -> bool:
        fmeta = self.field(parent, name)
        return fmeta is not None and self.is_local(graph, parent, fmeta, provided)

    def _local_on_every_runtime(
        self, graph: str, abstract: str, name: str, provided: Provided | None
    ) -> bool:
        """An interface field stays on the interface only if every implementation this
        subgraph can return resolves it here: an implementation may mark it ``@external``
        (a ``@provides`` then decides per type, through inline fragments)."""
        if not self._local_on(graph, abstract, name, provided):
            return False
        return all(
            self._local_on(graph, runtime, name, provided)
            for runtime in self.possible_runtimes(graph, abstract)
        )

    def _plan_interface_object(
        self,
        group: Group,
        sel: SelSet,
        iface: str,
        sets: Sequence[SelectionSetNode],
        path: tuple[str, ...],
        provided: Provided | None,
        internal: bool,
    ) -> None:
        collector = self.plain if internal else self.collector
        direct = collector.collect(sets, iface)
        local = {k: v for k, v in direct.items() if v[0].name.value != "__typename"}
        self.plan_fields(group, sel, iface, local, path, provided, internal)
        wants_concrete = collector.has_type_conditions(sets, iface) or any(
            v[0].name.value == "__typename" for v in direct.values()
        )
        if not wants_concrete:
            return
        meta = self.sg.types[iface]
        owner = next(
            (
                g
                for g in meta.graphs
                if g not in meta.interface_object_graphs and meta.resolvable_keys(g)
            ),
            None,
        )
        if owner is None:
            raise PlanningError(
                f"interface {iface} is only known as an @interfaceObject: no subgraph "
                "defines it with a resolvable @key, so its concrete types cannot be found"
            )
        target, tsel = self.entity_jump(
            group, sel, iface, path, FieldSource(owner, iface), provided
        )
        self.plan_type(target, tsel, iface, sets, path, None, internal, frozenset(local))

    # -- costs -----------------------------------------------------------------------------
