"""Read Federation 1 subgraphs the way Federation 2 does (Apollo's schema upgrader).

Fed1 had no @shareable (every field could be resolved by several subgraphs),
marked key fields of type extensions @external, tolerated unused @external
fields and @key on interfaces. Composition first rewrites a Fed1 subgraph into
its Fed2 equivalent, then merges it like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import FieldNode, print_ast

from gateway.composition.errors import CompositionProblem
from gateway.composition.facts import compute_facts, targets
from gateway.composition.fieldset import FieldSetError, parse_field_set
from gateway.composition.model import Kind, Subgraph, TypeDef, base_name


def _is_type_extension(typedef: TypeDef) -> bool:
    return typedef.kind in (Kind.OBJECT, Kind.INTERFACE) and (
        typedef.extends or (typedef.has_extension and not typedef.has_definition)
    )


def extensions_with_no_base(
    subgraph: Subgraph, all_subgraphs: Sequence[Subgraph]
) -> list[CompositionProblem]:
    problems = []
    for typedef in subgraph.types.values():
        if typedef.name in subgraph.roots.values() or not _is_type_extension(typedef):
            continue
        defined_elsewhere = any(
            other is not subgraph
            and typedef.name in other.types
            and other.types[typedef.name].has_definition
            for other in all_subgraphs
        )
        if not defined_elsewhere:
            problems.append(
                CompositionProblem(
                    "EXTENSION_WITH_NO_BASE",
                    f'[{subgraph.name}] Type "{typedef.name}" is an extension type, but there is '
                    f'no type definition for "{typedef.name}" in any subgraph.',
                    (subgraph.name,),
                    typedef.name,
                )
            )
    return problems


def upgrade_fed1(subgraph: Subgraph, all_subgraphs: Sequence[Subgraph]) -> list[CompositionProblem]:
    """Rewrite a Fed1 subgraph in place; returns the problems that stop the upgrade.

    Run :func:`extensions_with_no_base` on every Fed1 subgraph first: it must see
    the subgraphs as written, before any of them is upgraded.
    """
    problems: list[CompositionProblem] = []
    types = subgraph.types
    for typedef in types.values():
        if typedef.kind is Kind.INTERFACE:
            for field in typedef.fields.values():
                field.external = False
                field.requires = None
                field.provides = None
            typedef.keys.clear()
        typedef.external_on_type = False
    for typedef in types.values():
        is_root = typedef.name in subgraph.roots.values()
        if not (_is_type_extension(typedef) or (is_root and typedef.has_extension)):
            continue
        if typedef.keys:
            for key in typedef.keys:
                for coordinate in targets(subgraph, typedef, key.fields, implementations=False):
                    type_name, name = coordinate.split(".", 1)
                    if type_name == typedef.name:
                        typedef.fields[name].external = False
        else:
            for other in all_subgraphs:
                other_type = other.types.get(typedef.name)
                if other is subgraph or other_type is None or not other_type.keys:
                    continue
                for coordinate in targets(
                    other, other_type, other_type.keys[0].fields, implementations=False
                ):
                    type_name, name = coordinate.split(".", 1)
                    own = typedef.fields.get(name)
                    if type_name == typedef.name and own is not None:
                        own.external = False
        # The extension becomes a definition; a literal @extends still reads as one.
        typedef.has_extension = False
        typedef.has_definition = True
        for key in typedef.keys:
            key.of_extension = False
        for field in typedef.fields.values():
            field.of_extension = False
    _drop_inactive_requires_and_provides(subgraph)
    for typedef in types.values():
        if typedef.kind is not Kind.OBJECT:
            continue
        for field in typedef.fields.values():
            target = types.get(base_name(field.type))
            if field.provides is not None and (
                target is None or target.kind not in (Kind.OBJECT, Kind.INTERFACE, Kind.UNION)
            ):
                field.provides = None
    compute_facts(subgraph)
    for typedef in list(types.values()):
        if typedef.kind not in (Kind.OBJECT, Kind.INTERFACE):
            continue
        for name in list(typedef.fields):
            coordinate = f"{typedef.name}.{name}"
            if coordinate in subgraph.external and coordinate not in subgraph.used:
                del typedef.fields[name]
        if not typedef.fields and typedef.name != "Query":
            if _is_referenced(subgraph, typedef.name):
                problems.append(
                    CompositionProblem(
                        "TYPE_WITH_ONLY_UNUSED_EXTERNAL",
                        f"[{subgraph.name}] Type {typedef.name} contains only external fields and "
                        "all those fields are all unused (they do not appear in any @key, "
                        "@provides or @requires).",
                        (subgraph.name,),
                        typedef.name,
                    )
                )
            else:
                del types[typedef.name]
    for typedef in types.values():
        if typedef.kind is Kind.OBJECT and typedef.name != subgraph.roots.get("subscription"):
            for field in typedef.fields.values():
                field.shareable = True
    compute_facts(subgraph)
    return problems


def _drop_inactive_requires_and_provides(subgraph: Subgraph) -> None:
    """Fed1 let @requires/@provides name fields the subgraph owns; Fed2 drops those names."""
    for typedef in subgraph.types.values():
        for field in typedef.fields.values():
            if field.requires is not None:
                field.requires = _external_only(subgraph, typedef, field.requires)
            target = subgraph.types.get(base_name(field.type))
            if field.provides is not None and target is not None:
                field.provides = _external_only(subgraph, target, field.provides)


def _external_only(subgraph: Subgraph, parent: TypeDef, fields: str) -> str | None:
    try:
        selection_set = parse_field_set(fields)
    except FieldSetError:
        return fields  # left for validation to report
    kept = []
    dropped = False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode) and selection.selection_set is None:
            field = parent.fields.get(selection.name.value)
            if field is not None and not field.external:
                dropped = True
                continue
        kept.append(print_ast(selection))
    if not dropped:
        return fields
    return " ".join(kept) or None


def _is_referenced(subgraph: Subgraph, name: str) -> bool:
    for typedef in subgraph.types.values():
        if name in typedef.interfaces or name in typedef.members:
            return True
        for field in typedef.fields.values():
            if base_name(field.type) == name:
                return True
    return False
