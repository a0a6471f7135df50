"""Checks on the merged supergraph: interface fields, @inaccessible, and GraphQL validity."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from graphql import GraphQLError, build_ast_schema, parse, validate_schema

from gateway.composition.errors import CompositionProblem, human_list
from gateway.composition.model import Kind, Subgraph, base_name, is_non_null
from gateway.composition.printer import print_supergraph
from gateway.composition.supergraph_model import Supergraph, SuperType


def check_supergraph(
    supergraph: Supergraph, subgraphs: Sequence[Subgraph]
) -> list[CompositionProblem]:
    # Like Apollo: post-merge checks first, the API schema (@inaccessible) only if they pass.
    problems = list(_interface_fields(supergraph, subgraphs))
    if problems:
        return problems
    problems += _inaccessible(supergraph)
    if not problems:
        problems += _graphql_validity(supergraph)
    return problems


def _interface_fields(
    supergraph: Supergraph, subgraphs: Sequence[Subgraph]
) -> Iterator[CompositionProblem]:
    for typedef in supergraph.types.values():
        if typedef.kind is not Kind.OBJECT:
            continue
        for itf_name in typedef.interfaces:
            itf = supergraph.types.get(itf_name)
            if itf is None:
                continue
            for name in itf.fields:
                if name in typedef.fields:
                    continue
                declaring = [
                    s.name
                    for s in subgraphs
                    if itf_name in s.types and name in s.types[itf_name].fields
                ]
                implementing = [
                    s.name
                    for s in subgraphs
                    if typedef.name in s.types and itf_name in s.types[typedef.name].interfaces
                ]
                yield CompositionProblem(
                    "INTERFACE_FIELD_NO_IMPLEM",
                    f'Interface field "{itf_name}.{name}" is declared in {human_list(declaring)} '
                    f'but type "{typedef.name}", which implements "{itf_name}" only in '
                    f'{human_list(implementing)} does not have field "{name}".',
                    tuple(declaring + implementing),
                    f"{typedef.name}.{name}",
                )


def _inaccessible(supergraph: Supergraph) -> Iterator[CompositionProblem]:
    types = supergraph.types

    def hidden(type_name: str) -> bool:
        target = types.get(type_name)
        return target is not None and target.inaccessible

    for operation, root in supergraph.roots.items():
        if hidden(root):
            yield CompositionProblem(
                "QUERY_ROOT_TYPE_INACCESSIBLE"
                if operation == "query"
                else "DISALLOWED_INACCESSIBLE",
                f'Type "{root}" is @inaccessible but is the {operation} root type, which must be '
                "in the API schema.",
                (),
                root,
            )
    for typedef in types.values():
        if typedef.inaccessible:
            continue
        yield from _children(typedef)
        for field in typedef.fields.values():
            coordinate = f"{typedef.name}.{field.name}"
            if field.inaccessible:
                if typedef.kind is Kind.INPUT and is_non_null(field.type) and field.default is None:
                    yield CompositionProblem(
                        "REQUIRED_INACCESSIBLE",
                        f'Input field "{coordinate}" is @inaccessible but is a required input '
                        "field of its type.",
                        (),
                        coordinate,
                    )
                yield from _implemented_by_inaccessible(supergraph, typedef, field.name)
                continue
            if hidden(base_name(field.type)):
                yield _referenced(base_name(field.type), coordinate)
            for arg in field.arguments.values():
                arg_coordinate = f"{coordinate}({arg.name}:)"
                if arg.inaccessible:
                    if is_non_null(arg.type) and arg.default is None:
                        yield CompositionProblem(
                            "REQUIRED_INACCESSIBLE",
                            f'Argument "{arg_coordinate}" is @inaccessible but is a required '
                            "argument of its field.",
                            (),
                            arg_coordinate,
                        )
                elif hidden(base_name(arg.type)):
                    yield _referenced(base_name(arg.type), arg_coordinate)
        for itf in typedef.interfaces:
            if hidden(itf):
                yield _referenced(itf, typedef.name)


def _referenced(type_name: str, by: str) -> CompositionProblem:
    return CompositionProblem(
        "REFERENCED_INACCESSIBLE",
        f'Type "{type_name}" is @inaccessible but is referenced by "{by}", which is in the API '
        "schema.",
        (),
        by,
    )


def _children(typedef: SuperType) -> Iterator[CompositionProblem]:
    if typedef.kind in (Kind.OBJECT, Kind.INTERFACE, Kind.INPUT):
        children = [f.inaccessible for f in typedef.fields.values()]
        noun = "fields"
    elif typedef.kind is Kind.ENUM:
        children = [v.inaccessible for v in typedef.values.values()]
        noun = "values"
    else:
        return
    if children and all(children):
        yield CompositionProblem(
            "ONLY_INACCESSIBLE_CHILDREN",
            f'Type "{typedef.name}" is in the API schema but all of its {noun} are @inaccessible.',
            (),
            typedef.name,
        )


def _implemented_by_inaccessible(
    supergraph: Supergraph, typedef: SuperType, name: str
) -> Iterator[CompositionProblem]:
    for itf_name in typedef.interfaces:
        itf = supergraph.types.get(itf_name)
        if itf is None or itf.inaccessible or name not in itf.fields:
            continue
        if not itf.fields[name].inaccessible:
            yield CompositionProblem(
                "IMPLEMENTED_BY_INACCESSIBLE",
                f'Field "{typedef.name}.{name}" is @inaccessible but implements the interface '
                f'field "{itf_name}.{name}", which is in the API schema.',
                (),
                f"{typedef.name}.{name}",
            )


def _graphql_validity(supergraph: Supergraph) -> list[CompositionProblem]:
    try:
        schema = build_ast_schema(parse(print_supergraph(supergraph)))
        errors: Sequence[GraphQLError] = validate_schema(schema)
    except (GraphQLError, TypeError) as exc:
        errors = [GraphQLError(str(exc))]
    return [
        CompositionProblem("INVALID_GRAPHQL", f"The merged supergraph is invalid: {e.message}")
        for e in errors
    ]
