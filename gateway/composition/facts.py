"""Per-subgraph federation facts: which fields are external, provided, shareable, used.

These mirror Apollo's ``ExternalTester`` and ``computeShareables``; fields are
identified by their coordinate (``Type.field``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from gateway.composition.fieldset import FieldSetError, Selected, walk_field_set
from gateway.composition.model import Field, Kind, Subgraph, TypeDef, base_name


def targets(
    subgraph: Subgraph, parent: TypeDef, fields: str, *, implementations: bool = True
) -> list[str]:
    found: list[str] = []

    def visit(selected: Selected) -> None:
        found.append(f"{selected.parent.name}.{selected.field.name}")

    # An unreadable field set is reported by validation; facts just skip it.
    with contextlib.suppress(FieldSetError):
        walk_field_set(
            subgraph, parent, fields, visit, include_implementations=implementations, strict=False
        )
    return found


def _each_field(subgraph: Subgraph) -> list[tuple[TypeDef, Field]]:
    return [
        (typedef, field)
        for typedef in subgraph.types.values()
        if typedef.kind in (Kind.OBJECT, Kind.INTERFACE)
        for field in typedef.fields.values()
    ]


def compute_facts(subgraph: Subgraph) -> None:
    subgraph.fake_external.clear()
    subgraph.external.clear()
    subgraph.provided.clear()
    subgraph.shareable.clear()
    subgraph.used.clear()
    for typedef in subgraph.types.values():
        for key in typedef.keys:
            if key.of_extension or typedef.extends:
                for coordinate in targets(subgraph, typedef, key.fields, implementations=False):
                    type_name, field_name = coordinate.split(".", 1)
                    field = subgraph.field_at(type_name, field_name)
                    if field is not None and field.external:
                        subgraph.fake_external.add(coordinate)
    for typedef, field in _each_field(subgraph):
        coordinate = f"{typedef.name}.{field.name}"
        on_type = subgraph.fed2 and typedef.kind is Kind.OBJECT and typedef.external_on_type
        if (field.external or on_type) and coordinate not in subgraph.fake_external:
            subgraph.external.add(coordinate)
    for typedef, field in _each_field(subgraph):
        if field.provides is not None:
            target = subgraph.types.get(base_name(field.type))
            if target is not None and target.kind in (Kind.OBJECT, Kind.INTERFACE, Kind.UNION):
                provided = targets(subgraph, target, field.provides)
                subgraph.provided.update(provided)
                subgraph.used.update(provided)
                subgraph.shareable.update(c for c in provided if c in subgraph.external)
        if field.requires is not None:
            subgraph.used.update(targets(subgraph, typedef, field.requires))
    for typedef in subgraph.types.values():
        for key in typedef.keys:
            key_fields = targets(subgraph, typedef, key.fields)
            subgraph.used.update(key_fields)
            subgraph.shareable.update(key_fields)
        if typedef.kind is Kind.OBJECT:
            for field in typedef.fields.values():
                type_level = (typedef.shareable_on_definition and not field.of_extension) or (
                    typedef.shareable_on_extension and field.of_extension
                )
                if field.shareable or type_level:
                    subgraph.shareable.add(f"{typedef.name}.{field.name}")
        if typedef.kind is Kind.INTERFACE:
            for implementation in subgraph.implementations(typedef.name):
                for name in typedef.fields:
                    if name in implementation.fields:
                        subgraph.used.add(f"{implementation.name}.{name}")


def is_external(subgraph: Subgraph) -> Callable[[TypeDef, Field], bool]:
    return lambda parent, field: f"{parent.name}.{field.name}" in subgraph.external
