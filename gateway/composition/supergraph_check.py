"""``validate_supergraph``: is a file a supergraph this gateway can serve (join v0.3+)?"""

from __future__ import annotations

import re

from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueNode,
    GraphQLError,
    GraphQLSyntaxError,
    SchemaDefinitionNode,
    StringValueNode,
    build_ast_schema,
    parse,
    validate_schema,
    visit,
)
from graphql.language import Visitor

from gateway.composition.errors import CompositionError, CompositionProblem

JOIN_URL = re.compile(r"^https://specs\.apollo\.dev/join/v(\d+)\.(\d+)$")
LINK_URL = re.compile(r"^https://specs\.apollo\.dev/(link|core)/v(\d+)\.(\d+)$")
# Features a gateway must understand to execute (for: EXECUTION) or secure (for: SECURITY)
# a supergraph; a supergraph linking any other such feature cannot be served faithfully.
KNOWN_FEATURES = re.compile(r"^https://specs\.apollo\.dev/(link|join|tag|inaccessible)/v\d+\.\d+$")


def _problem(message: str) -> CompositionProblem:
    return CompositionProblem("INVALID_SUPERGRAPH", message)


def _arg(directive: DirectiveNode, name: str) -> ArgumentNode | None:
    return next((a for a in directive.arguments or () if a.name.value == name), None)


def _string_arg(directive: DirectiveNode, name: str) -> str | None:
    arg = _arg(directive, name)
    return arg.value.value if arg and isinstance(arg.value, StringValueNode) else None


def validate_supergraph(sdl: str) -> None:
    """Raise :class:`CompositionError` unless ``sdl`` is a parseable join v0.3+ supergraph."""
    try:
        document = parse(sdl)
    except GraphQLSyntaxError as exc:
        raise CompositionError([_problem(f"The supergraph does not parse: {exc.message}")]) from exc
    problems = _link_problems(document)
    if not problems:
        problems += _graph_problems(document)
    if not problems:
        try:
            errors = list(validate_schema(build_ast_schema(document)))
        except (GraphQLError, TypeError) as exc:
            errors = [GraphQLError(str(exc))]
        problems += [_problem(f"The supergraph is not a valid schema: {e.message}") for e in errors]
    if problems:
        raise CompositionError(problems)


def _link_problems(document: DocumentNode) -> list[CompositionProblem]:
    schemas = [d for d in document.definitions if isinstance(d, SchemaDefinitionNode)]
    if len(schemas) != 1:
        return [
            _problem(
                "A supergraph has exactly one schema definition carrying its @link directives; "
                f"found {len(schemas)}. Compose it with `compose()` or rover."
            )
        ]
    problems = []
    join_version: tuple[int, int] | None = None
    for directive in schemas[0].directives or ():
        if directive.name.value != "link":
            continue
        url = _string_arg(directive, "url") or ""
        match = JOIN_URL.match(url)
        if match:
            join_version = (int(match.group(1)), int(match.group(2)))
        purpose = _arg(directive, "for")
        purpose_value = (
            purpose.value.value if purpose and isinstance(purpose.value, EnumValueNode) else None
        )
        if purpose_value in ("EXECUTION", "SECURITY") and not KNOWN_FEATURES.match(url):
            problems.append(
                _problem(
                    f'The supergraph links "{url}" for {purpose_value}, a feature this gateway '
                    "does not support; serve it with a gateway that does or recompose without it."
                )
            )
    if join_version is None:
        problems.append(
            _problem(
                "The supergraph has no @link to the join spec "
                '(@link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)); '
                "is this a subgraph schema or an old (Fed1-era) supergraph?"
            )
        )
    elif join_version < (0, 3):
        problems.append(
            _problem(
                f"The supergraph uses join v{join_version[0]}.{join_version[1]}; this gateway "
                "needs join v0.3 or later (recompose with Federation 2 composition)."
            )
        )
    return problems


def _graph_problems(document: DocumentNode) -> list[CompositionProblem]:
    graph_enum = next(
        (
            d
            for d in document.definitions
            if isinstance(d, EnumTypeDefinitionNode) and d.name.value == "join__Graph"
        ),
        None,
    )
    if graph_enum is None or not graph_enum.values:
        return [_problem("The supergraph has no join__Graph enum listing its subgraphs.")]
    problems = []
    graphs: set[str] = set()
    for value in graph_enum.values:
        join_graph = next(
            (d for d in value.directives or () if d.name.value == "join__graph"), None
        )
        if (
            join_graph is None
            or _string_arg(join_graph, "name") is None
            or (_string_arg(join_graph, "url") is None)
        ):
            problems.append(
                _problem(
                    f'join__Graph value "{value.name.value}" needs @join__graph(name:, url:) '
                    "naming its subgraph and where to reach it."
                )
            )
        graphs.add(value.name.value)
    problems += _unknown_graph_references(document, graphs)
    return problems


def _unknown_graph_references(document: DocumentNode, graphs: set[str]) -> list[CompositionProblem]:
    unknown: list[str] = []

    class _Graphs(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: object) -> None:
            if not node.name.value.startswith("join__"):
                return
            graph = _arg(node, "graph")
            if graph and isinstance(graph.value, EnumValueNode) and graph.value.value not in graphs:
                unknown.append(f"@{node.name.value}(graph: {graph.value.value})")

    visit(document, _Graphs())
    return [_problem(f"{ref} names a graph that join__Graph does not declare.") for ref in unknown]
