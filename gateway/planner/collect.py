"""CollectFields (GraphQL spec §6.3.2) over client documents, with @skip/@include resolved."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    is_abstract_type,
)

CollectedFields = dict[str, list[FieldNode]]


def _condition(directive: DirectiveNode, variables: Mapping[str, Any]) -> bool:
    for arg in directive.arguments or ():
        if arg.name.value != "if":
            continue
        value = arg.value
        if isinstance(value, BooleanValueNode):
            return value.value
        if isinstance(value, VariableNode):
            return bool(variables.get(value.name.value))
    return True


def is_included(directives: Iterable[DirectiveNode] | None, variables: Mapping[str, Any]) -> bool:
    """Whether @skip/@include let this selection through, for these variable values."""
    for directive in directives or ():
        name = directive.name.value
        if name == "skip" and _condition(directive, variables):
            return False
        if name == "include" and not _condition(directive, variables):
            return False
    return True


def condition_variables(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> tuple[str, ...]:
    """Names of the variables @skip/@include depend on (part of the plan cache key)."""
    found: list[str] = []
    seen_fragments: set[str] = set()

    def walk(node: SelectionSetNode) -> None:
        for selection in node.selections:
            for directive in selection.directives or ():
                if directive.name.value in ("skip", "include"):
                    for arg in directive.arguments or ():
                        if isinstance(arg.value, VariableNode):
                            name = arg.value.name.value
                            if name not in found:
                                found.append(name)
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen_fragments and name in fragments:
                    seen_fragments.add(name)
                    walk(fragments[name].selection_set)
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                walk(selection.selection_set)  # type: ignore[attr-defined]

    walk(selection_set)
    return tuple(found)


class FieldCollector:
    """Collects response keys → field nodes for a runtime type (cached per plan)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self._cache: dict[tuple[tuple[int, ...], str], CollectedFields] = {}

    def applies(self, condition: str | None, runtime: str) -> bool:
        if condition is None or condition == runtime:
            return True
        cond_type = self.schema.type_map.get(condition)
        runtime_type = self.schema.type_map.get(runtime)
        if cond_type is None or runtime_type is None or not is_abstract_type(cond_type):
            return False
        if is_abstract_type(runtime_type):
            return False
        return self.schema.is_sub_type(cond_type, runtime_type)

    def collect(self, selection_sets: Iterable[SelectionSetNode], runtime: str) -> CollectedFields:
        sets = tuple(selection_sets)
        key = (tuple(id(s) for s in sets), runtime)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        out: CollectedFields = {}
        visited: set[str] = set()
        for selection_set in sets:
            self._collect(selection_set, runtime, out, visited)
        self._cache[key] = out
        return out

    def _collect(
        self, selection_set: SelectionSetNode, runtime: str, out: CollectedFields, visited: set[str]
    ) -> None:
        for selection in selection_set.selections:
            if not is_included(selection.directives, self.variables):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition.name.value if selection.type_condition else None
                if self.applies(cond, runtime):
                    self._collect(selection.selection_set, runtime, out, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self.applies(fragment.type_condition.name.value, runtime):
                    self._collect(fragment.selection_set, runtime, out, visited)

    def has_type_conditions(self, selection_sets: Iterable[SelectionSetNode], parent: str) -> bool:
        """Whether any fragment narrows ``parent`` to another type (forces per-type planning)."""
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if not is_included(selection.directives, self.variables):
                    continue
                if isinstance(selection, InlineFragmentNode):
                    cond = selection.type_condition.name.value if selection.type_condition else None
                    if cond not in (None, parent) or self.has_type_conditions(
                        [selection.selection_set], parent
                    ):
                        return True
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is None:
                        continue
                    if fragment.type_condition.name.value != parent or self.has_type_conditions(
                        [fragment.selection_set], parent
                    ):
                        return True
        return False
