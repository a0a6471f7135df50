"""A basic satisfiability check: every queryable field can be reached from where its type is.

Apollo's full check explores every query path through the query graph. This one
covers the common failure: a subgraph can reach type ``T`` but lacks field ``T.f``,
and cannot hand ``T`` over (through a resolvable @key whose fields it has) to any
subgraph that resolves ``f``. Abstract types and @interfaceObject are left to the
planner.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from graphql import FieldNode, SelectionSetNode

from gateway.composition.errors import CompositionProblem
from gateway.composition.fieldset import FieldSetError, parse_field_set
from gateway.composition.model import Kind, Subgraph, TypeDef, base_name, is_non_null
from gateway.composition.supergraph_model import SuperField, Supergraph, SuperType

_COMPOSITE = (Kind.OBJECT, Kind.INTERFACE, Kind.UNION)


def _can_provide(subgraph: Subgraph, typedef: TypeDef, selection_set: SelectionSetNode) -> bool:
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode):
            return False
        name = selection.name.value
        if name == "__typename":
            continue
        field = typedef.fields.get(name)
        coordinate = f"{typedef.name}.{name}"
        if field is None or (
            coordinate in subgraph.external and coordinate not in subgraph.provided
        ):
            return False
        if selection.selection_set is not None:
            target = subgraph.types.get(base_name(field.type))
            if target is None or not _can_provide(subgraph, target, selection.selection_set):
                return False
    return True


def _can_jump(source: Subgraph, target: Subgraph, type_name: str) -> bool:
    here = source.types.get(type_name)
    there = target.types.get(type_name)
    if here is None or there is None:
        return False
    for key in there.keys:
        if not key.resolvable:
            continue
        try:
            if _can_provide(source, here, parse_field_set(key.fields)):
                return True
        except FieldSetError:
            continue
    return False


def _query(steps: list[str], operation: str) -> str:
    lines = []
    for depth, step in enumerate(steps):
        lines.append("  " * (depth + 1) + step + (" {" if depth < len(steps) - 1 else ""))
    for depth in range(len(steps) - 2, -1, -1):
        lines.append("  " * (depth + 1) + "}")
    prefix = "" if operation == "query" else operation + " "
    return prefix + "{\n" + "\n".join(lines) + "\n}"


def _placeholder(type_name: str) -> str:
    return {"Int": "0", "Float": "0", "Boolean": "false"}.get(type_name, '"..."')


def _step(field: SuperField) -> str:
    required = [a for a in field.arguments.values() if is_non_null(a.type) and a.default is None]
    args = ", ".join(f"{a.name}: {_placeholder(base_name(a.type))}" for a in required)
    return field.name + (f"({args})" if args else "")


class _Checker:
    """Walks the API schema, tracking which subgraphs a query can be in at each step."""

    def __init__(
        self, supergraph: Supergraph, subgraphs: Sequence[Subgraph], graphs: Sequence[str]
    ) -> None:
        self.supergraph = supergraph
        self.subgraphs = subgraphs
        self.index = {g: i for i, g in enumerate(graphs)}
        self.problems: list[CompositionProblem] = []
        self.reported: set[str] = set()

    def resolvers(self, parent: SuperType, field: SuperField) -> set[int] | None:
        if not field.joins:
            return {i for i, s in enumerate(self.subgraphs) if parent.name in s.types}
        if any(j.graph is None for j in field.joins):
            return None  # provided through an @interfaceObject: left to the planner
        found = set()
        for join in field.joins:
            assert join.graph is not None
            idx = self.index[join.graph]
            at = f"{parent.name}.{field.name}"
            if join.used_overridden:
                continue
            if not join.external or at in self.subgraphs[idx].provided:
                found.add(idx)
        return found

    def closure(self, type_name: str, state: frozenset[int]) -> set[int]:
        seen = set(state)
        queue = deque(state)
        while queue:
            current = queue.popleft()
            for idx, other in enumerate(self.subgraphs):
                if idx not in seen and _can_jump(self.subgraphs[current], other, type_name):
                    seen.add(idx)
                    queue.append(idx)
        return seen

    def run(self) -> list[CompositionProblem]:
        queue: deque[tuple[str, frozenset[int], list[str], str]] = deque()
        visited: set[tuple[str, frozenset[int]]] = set()
        for operation, root in self.supergraph.roots.items():
            root_type = self.supergraph.types[root]
            for field in root_type.fields.values():
                resolvers = self.resolvers(root_type, field)
                if field.inaccessible or not resolvers:
                    continue
                self._descend(queue, field, frozenset(resolvers), [_step(field)], operation)
        while queue:
            type_name, state, path, operation = queue.popleft()
            if (type_name, state) in visited:
                continue
            visited.add((type_name, state))
            typedef = self.supergraph.types[type_name]
            if typedef.kind is not Kind.OBJECT or any(
                s.types.get(type_name, TypeDef()).interface_object for s in self.subgraphs
            ):
                continue
            reachable = self.closure(type_name, state)
            for field in typedef.fields.values():
                if field.inaccessible:
                    continue
                resolvers = self.resolvers(typedef, field)
                if resolvers is None:
                    continue
                usable = resolvers & reachable
                if not usable:
                    self._report(typedef, field, state, resolvers, path, operation)
                    continue
                self._descend(queue, field, frozenset(usable), [*path, _step(field)], operation)
        return self.problems

    def _descend(
        self,
        queue: deque[tuple[str, frozenset[int], list[str], str]],
        field: SuperField,
        state: frozenset[int],
        path: list[str],
        operation: str,
    ) -> None:
        target = self.supergraph.types.get(base_name(field.type))
        if target is None or target.inaccessible:
            return
        if target.kind is Kind.OBJECT:
            queue.append((target.name, state, path, operation))
            return
        if target.kind not in (Kind.INTERFACE, Kind.UNION):
            return
        possible = [
            t
            for t in self.supergraph.types.values()
            if t.kind is Kind.OBJECT
            and not t.inaccessible
            and (t.name in target.members or target.name in t.interfaces)
        ]
        abstracted = [i for i in state if self._is_interface_object(i, target.name)]
        # An @interfaceObject cannot tell which implementation it holds: some subgraph
        # with the real interface and a resolvable @key must answer __typename.
        typename_resolvers = [
            i
            for i, s in enumerate(self.subgraphs)
            if target.name in s.types
            and s.types[target.name].kind is Kind.INTERFACE
            and any(k.resolvable for k in s.types[target.name].keys)
        ]
        for obj in possible:
            step = [*path, f"... on {obj.name}"]
            narrowed = frozenset(i for i in state if obj.name in self.subgraphs[i].types)
            if narrowed:
                queue.append((obj.name, narrowed, step, operation))
            elif abstracted and typename_resolvers:
                holders = frozenset(i for i, s in enumerate(self.subgraphs) if obj.name in s.types)
                queue.append((obj.name, holders, step, operation))
            elif abstracted:
                self._report_interface_object(abstracted[0], target.name, step, operation)

    def _is_interface_object(self, idx: int, type_name: str) -> bool:
        local = self.subgraphs[idx].types.get(type_name)
        return local is not None and local.interface_object

    def _report_interface_object(
        self, idx: int, interface: str, path: list[str], operation: str
    ) -> None:
        key = "/".join(path)
        if key in self.reported:
            return
        self.reported.add(key)
        query = _query([*path, "..."], operation)
        name = self.subgraphs[idx].name
        self.problems.append(
            CompositionProblem(
                "SATISFIABILITY_ERROR",
                "The following supergraph API query:\n"
                + query
                + "\ncannot be satisfied by the subgraphs because:\n"
                + f'- from subgraph "{name}": no subgraph can be reached to resolve the '
                f'implementation type of @interfaceObject type "{interface}".',
                (name,),
                interface,
            )
        )

    def _report(
        self,
        typedef: SuperType,
        field: SuperField,
        state: frozenset[int],
        resolvers: set[int],
        path: list[str],
        operation: str,
    ) -> None:
        coordinate = f"{typedef.name}.{field.name}"
        if coordinate in self.reported:
            return
        self.reported.add(coordinate)
        self.problems.append(
            _unsatisfiable(
                self.subgraphs,
                sorted(state),
                resolvers,
                typedef.name,
                field.name,
                _query([*path, _step(field)], operation),
            )
        )


def check_satisfiability(
    supergraph: Supergraph, subgraphs: Sequence[Subgraph], graphs: Sequence[str]
) -> list[CompositionProblem]:
    return _Checker(supergraph, subgraphs, graphs).run()


def _unsatisfiable(
    subgraphs: Sequence[Subgraph],
    sources: list[int],
    resolvers: set[int],
    type_name: str,
    field_name: str,
    query: str,
) -> CompositionProblem:
    coordinate = f"{type_name}.{field_name}"
    lines = []
    for idx in sources:
        source = subgraphs[idx]
        lines.append(f'- from subgraph "{source.name}":')
        lines.append(f'  - cannot find field "{coordinate}".')
        for r in sorted(resolvers):
            target = subgraphs[r]
            keys = [k for k in target.types[type_name].keys if k.resolvable]
            if not keys:
                why = f'type "{type_name}" has no @key defined in subgraph "{target.name}"'
            else:
                listed = ", ".join(f'@key(fields: "{k.fields}")' for k in keys)
                why = (
                    f'none of the @key of type "{type_name}" in subgraph "{target.name}" '
                    f'({listed}) can be provided by subgraph "{source.name}"'
                )
            lines.append(
                f'  - cannot move to subgraph "{target.name}", which has field "{coordinate}", '
                f"because {why}."
            )
    message = (
        "The following supergraph API query:\n"
        + query
        + "\ncannot be satisfied by the subgraphs because:\n"
        + "\n".join(lines)
    )
    names = tuple(subgraphs[i].name for i in [*sources, *sorted(resolvers)])
    return CompositionProblem("SATISFIABILITY_ERROR", message, names, coordinate)
