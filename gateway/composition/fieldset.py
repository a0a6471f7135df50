"""Field sets (the ``fields:`` of @key, @requires and @provides) read against a subgraph."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graphql import (
    FieldNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

from gateway.composition.model import Field, Kind, Subgraph, TypeDef, base_name


@dataclass(frozen=True, slots=True)
class Selected:
    """One field a field set selects, with where it sits."""

    parent: TypeDef
    field: Field
    has_selection: bool
    has_directives: bool
    external_in_parents: bool


class FieldSetError(ValueError):
    """The field set does not parse or does not match the subgraph's types."""


def parse_field_set(fields: str) -> SelectionSetNode:
    try:
        document = parse("{" + fields + "}", no_location=True)
    except GraphQLSyntaxError as exc:
        raise FieldSetError(f"invalid field set syntax: {exc.message}") from exc
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.selection_set


def walk_field_set(
    subgraph: Subgraph,
    parent: TypeDef,
    fields: str,
    visit: Callable[[Selected], None],
    *,
    include_implementations: bool = False,
    is_external: Callable[[TypeDef, Field], bool] | None = None,
    strict: bool = True,
) -> None:
    """Call ``visit`` for every field selected; raise :class:`FieldSetError` if invalid.

    With ``include_implementations``, a field selected on an interface also visits
    that field on every implementation in this subgraph (as Apollo's
    ``collectTargetFields`` does), since those are the fields that get resolved.
    ``strict=False`` tolerates missing or extra sub-selections (only unknown fields
    stop the walk), which is how Apollo collects the fields a directive *uses*.
    """
    walker = _Walker(subgraph, visit, include_implementations, is_external, strict)
    walker.walk(parent, parse_field_set(fields), external_in_parents=False)


class _Walker:
    def __init__(
        self,
        subgraph: Subgraph,
        visit: Callable[[Selected], None],
        include_implementations: bool,
        is_external: Callable[[TypeDef, Field], bool] | None,
        strict: bool,
    ) -> None:
        self.subgraph = subgraph
        self.visit = visit
        self.include_implementations = include_implementations
        self.is_external = is_external
        self.strict = strict

    def walk(
        self, parent: TypeDef, selection_set: SelectionSetNode, external_in_parents: bool
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    condition = selection.type_condition.name.value
                    found = self.subgraph.types.get(condition)
                    if found is None:
                        raise FieldSetError(f'Unknown type "{condition}"')
                    target = found
                self.walk(target, selection.selection_set, external_in_parents)
                continue
            if not isinstance(selection, FieldNode):
                raise FieldSetError("field sets cannot use named fragments")
            self._field(parent, selection, external_in_parents)

    def _field(self, parent: TypeDef, selection: FieldNode, external_in_parents: bool) -> None:
        name = selection.name.value
        if name == "__typename":
            return
        field = parent.fields.get(name)
        if field is None:
            raise FieldSetError(
                f'Cannot query field "{name}" on type "{parent.name}" (if the field is defined '
                "in another subgraph, you need to add it to this subgraph with @external)."
            )
        target_type = self.subgraph.types.get(base_name(field.type))
        composite = target_type is not None and target_type.kind in (
            Kind.OBJECT,
            Kind.INTERFACE,
            Kind.UNION,
        )
        if self.strict and composite and selection.selection_set is None:
            raise FieldSetError(
                f'Invalid empty selection set for field "{parent.name}.{name}" of non-leaf type '
                f"{base_name(field.type)}"
            )
        if self.strict and not composite and selection.selection_set is not None:
            raise FieldSetError(
                f'Field "{parent.name}.{name}" must not have a selection since type '
                f'"{base_name(field.type)}" has no subfields.'
            )
        has_selection = selection.selection_set is not None
        directives = bool(selection.directives)
        self.visit(Selected(parent, field, has_selection, directives, external_in_parents))
        if self.include_implementations and parent.kind is Kind.INTERFACE:
            for implementation in self.subgraph.implementations(parent.name):
                implemented = implementation.fields.get(name)
                if implemented is not None:
                    self.visit(
                        Selected(
                            implementation,
                            implemented,
                            has_selection,
                            directives,
                            external_in_parents,
                        )
                    )
        if selection.selection_set is not None and target_type is not None and composite:
            external = bool(self.is_external and self.is_external(parent, field))
            self.walk(target_type, selection.selection_set, external_in_parents or external)
