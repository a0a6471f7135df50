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
) -> None:
    """Call ``visit`` for every field selected; raise :class:`FieldSetError` if invalid.

    With ``include_implementations``, a field selected on an interface also visits
    that field on every implementation in this subgraph (as Apollo's
    ``collectTargetFields`` does), since those are the fields that get resolved.
    """
    _walk(
        subgraph,
        parent,
        parse_field_set(fields),
        visit,
        include_implementations,
        is_external,
        external_in_parents=False,
    )


def _walk(
    subgraph: Subgraph,
    parent: TypeDef,
    selection_set: SelectionSetNode,
    visit: Callable[[Selected], None],
    include_implementations: bool,
    is_external: Callable[[TypeDef, Field], bool] | None,
    external_in_parents: bool,
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            target = parent
            if selection.type_condition is not None:
                condition = selection.type_condition.name.value
                found = subgraph.types.get(condition)
                if found is None:
                    raise FieldSetError(f'Unknown type "{condition}"')
                target = found
            _walk(
                subgraph,
                target,
                selection.selection_set,
                visit,
                include_implementations,
                is_external,
                external_in_parents,
            )
            continue
        if not isinstance(selection, FieldNode):
            raise FieldSetError("field sets cannot use named fragments")
        name = selection.name.value
        if name == "__typename":
            continue
        field = parent.fields.get(name)
        if field is None:
            raise FieldSetError(
                f'Cannot query field "{name}" on type "{parent.name}" (if the field is defined '
                "in another subgraph, you need to add it to this subgraph with @external)."
            )
        target_type = subgraph.types.get(base_name(field.type))
        composite = target_type is not None and target_type.kind in (
            Kind.OBJECT,
            Kind.INTERFACE,
            Kind.UNION,
        )
        if composite and selection.selection_set is None:
            raise FieldSetError(
                f'Field "{parent.name}.{name}" of type "{base_name(field.type)}" must have a '
                "selection of subfields."
            )
        if not composite and selection.selection_set is not None:
            raise FieldSetError(
                f'Field "{parent.name}.{name}" must not have a selection since type '
                f'"{base_name(field.type)}" has no subfields.'
            )
        visit(
            Selected(
                parent,
                field,
                selection.selection_set is not None,
                bool(selection.directives),
                external_in_parents,
            )
        )
        if include_implementations and parent.kind is Kind.INTERFACE:
            for implementation in subgraph.implementations(parent.name):
                implemented = implementation.fields.get(name)
                if implemented is not None:
                    visit(
                        Selected(
                            implementation,
                            implemented,
                            selection.selection_set is not None,
                            bool(selection.directives),
                            external_in_parents,
                        )
                    )
        if selection.selection_set is not None and target_type is not None:
            now_external = external_in_parents or bool(is_external and is_external(parent, field))
            _walk(
                subgraph,
                target_type,
                selection.selection_set,
                visit,
                include_implementations,
                is_external,
                now_external,
            )
