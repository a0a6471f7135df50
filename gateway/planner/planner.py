"""Query planner facade: chooses root subgraphs, builds groups, prints subgraph operations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    print_ast,
)

from gateway.planner.builder import Group, GroupBuilder
from gateway.planner.collect import CollectedFields, FieldCollector
from gateway.planner.errors import PlanningError
from gateway.planner.plan import Fetch, PlanStep, QueryPlan, RepresentationSpec
from gateway.planner.selections import strip_own_type
from gateway.supergraph import FieldMeta, FieldSource, Supergraph

_INTROSPECTION = frozenset({"__schema", "__type"})
_NAME_UNSAFE = re.compile(r"[^_0-9A-Za-z]")


class QueryPlanner:
    """Plans validated operations against one supergraph. Stateless: cache plans outside."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.sg = supergraph

    def plan(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        active_labels: frozenset[str] = frozenset(),
    ) -> QueryPlan:
        """Plan ``operation``; ``active_labels`` are the progressive-override labels in force."""
        fields_meta = self.sg.fields_for(active_labels)
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        collector = FieldCollector(self.sg.full_schema, fragments, variables)
        root = self.sg.root_types.get(operation.operation)
        if root is None:
            raise PlanningError(f"the supergraph has no {operation.operation.value} type")
        fields = collector.collect([operation.selection_set], root)
        introspection = {k: v for k, v in fields.items() if v[0].name.value in _INTROSPECTION}
        regular = {
            k: v
            for k, v in fields.items()
            if v[0].name.value not in _INTROSPECTION and v[0].name.value != "__typename"
        }
        var_types = {
            v.variable.name.value: print_ast(v.type) for v in operation.variable_definitions or ()
        }
        op_name = operation.name.value if operation.name else None
        if operation.operation == OperationType.MUTATION:
            steps = self._plan_serial(collector, root, regular, var_types, op_name, fields_meta)
        else:
            kind = operation.operation.value
            builder = GroupBuilder(self.sg, collector, 0, fields_meta)
            roots: dict[str, Group] = {}
            for key, nodes in regular.items():
                source = self._choose_root(builder, root, nodes, roots)
                group = roots.get(source.graph)
                if group is None:
                    group = builder.new_group(source.graph, False, (), frozenset())
                    roots[source.graph] = group
                builder.add_local_field(
                    group, group.selection, root, key, nodes, (), None, False, source
                )
            steps = (PlanStep(self._fetches(builder.groups, kind, var_types, op_name)),)
        return QueryPlan(
            operation_type=operation.operation,
            root_type=root,
            root_selection=operation.selection_set,
            collector=collector,
            steps=steps,
            introspection=self._introspection_document(operation, fragments, introspection),
        )

    def _plan_serial(
        self,
        collector: FieldCollector,
        root: str,
        fields: CollectedFields,
        var_types: dict[str, str],
        op_name: str | None,
        fields_meta: dict[tuple[str, str], FieldMeta],
    ) -> tuple[PlanStep, ...]:
        """Root mutation fields run in order: consecutive fields on one subgraph share a fetch."""
        steps: list[PlanStep] = []
        builder: GroupBuilder | None = None
        group: Group | None = None
        next_id = 0
        for key, nodes in fields.items():
            probe = GroupBuilder(self.sg, collector, next_id, fields_meta)
            preferred = {group.graph: group} if group is not None else {}
            source = self._choose_root(probe, root, nodes, preferred)
            if builder is None or group is None or group.graph != source.graph:
                if builder is not None:
                    steps.append(
                        PlanStep(self._fetches(builder.groups, "mutation", var_types, op_name))
                    )
                    next_id = builder.groups[-1].id + 1
                builder = GroupBuilder(self.sg, collector, next_id, fields_meta)
                group = builder.new_group(source.graph, False, (), frozenset())
            builder.add_local_field(
                group, group.selection, root, key, nodes, (), None, False, source
            )
        if builder is not None:
            steps.append(PlanStep(self._fetches(builder.groups, "mutation", var_types, op_name)))
        return tuple(steps)

    def _choose_root(
        self,
        builder: GroupBuilder,
        root: str,
        nodes: Sequence[FieldNode],
        existing: Mapping[str, Group],
    ) -> FieldSource:
        name = nodes[0].name.value
        fmeta = builder.field(root, name)
        if fmeta is None or not fmeta.sources:
            raise PlanningError(f"no subgraph resolves {root}.{name}")
        order = list(self.sg.subgraphs)
        ranked = sorted(
            fmeta.sources.values(),
            key=lambda s: (
                builder.field_cost(s.graph, root, nodes),
                0 if s.graph in existing else 1,
                order.index(s.graph),
            ),
        )
        return ranked[0]

    def _fetches(
        self,
        groups: Sequence[Group],
        kind: str,
        var_types: Mapping[str, str],
        op_name: str | None,
    ) -> tuple[Fetch, ...]:
        fetches = []
        for group in groups:
            used: list[str] = []
            group.selection.variables(used)
            declared = ",".join(f"${v}:{var_types[v]}" for v in used)
            body = group.selection.print()
            if group.entity:
                reps = "$representations:[_Any!]!"
                declared = reps + ("," + declared if declared else "")
                body = "{_entities(representations:$representations)" + body + "}"
            fetch_kind = "query" if group.entity else kind
            name = ""
            if op_name:
                name = _NAME_UNSAFE.sub("_", f"{op_name}__{group.graph}__{group.id}")
            head = f"{fetch_kind} {name}".rstrip()
            operation = f"{head}({declared}){body}" if declared else f"{head}{body}"
            fetches.append(
                Fetch(
                    id=group.id,
                    graph=group.graph,
                    operation=operation,
                    operation_kind=fetch_kind,
                    variable_names=tuple(used),
                    depends_on=tuple(sorted(group.deps)),
                    path=group.path,
                    entity=group.entity,
                    representations={
                        runtime: RepresentationSpec(typename, tuple(sets))
                        for runtime, (typename, sets) in group.reps.items()
                    },
                    unalias=group.unalias,
                    runtime_keys={
                        runtime: frozenset(keys) for runtime, keys in group.runtime_keys.items()
                    },
                    root_keys=()
                    if group.entity
                    else tuple(
                        strip_own_type(k) for k in group.selection.fields if k != "__typename"
                    ),
                )
            )
        return tuple(fetches)

    @staticmethod
    def _introspection_document(
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        fields: CollectedFields,
    ) -> DocumentNode | None:
        if not fields:
            return None
        selections = tuple(node for nodes in fields.values() for node in nodes)
        op = OperationDefinitionNode(
            operation=OperationType.QUERY,
            variable_definitions=operation.variable_definitions,
            directives=(),
            selection_set=SelectionSetNode(selections=selections),
        )
        return DocumentNode(definitions=(op, *fragments.values()))
