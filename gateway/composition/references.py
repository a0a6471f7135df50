"""Unknown types and directives in a subgraph's SDL (what building its schema would reject)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from graphql import DirectiveDefinitionNode, DirectiveNode, DocumentNode, visit
from graphql.language import Visitor

from gateway.composition.links import FEDERATION_DIRECTIVES, FederationLink
from gateway.composition.model import BUILTIN_SCALARS, Subgraph, base_name

BUILTIN_DIRECTIVES = frozenset({"deprecated", "specifiedBy", "include", "skip", "oneOf", "link"})
# Federation directives that change what the gateway must do (auth, contextual arguments,
# custom directives). Dropping them silently would serve a different graph, so they are
# refused until supported. @cost/@listSize only feed demand control and are ignored.
UNSUPPORTED = frozenset(
    {"context", "fromContext", "authenticated", "requiresScopes", "policy", "composeDirective"}
)


def unknown_references(
    subgraph: Subgraph,
    document: DocumentNode,
    link: FederationLink,
    is_internal_type: Callable[[str], bool],
) -> Iterator[tuple[str, str, str | None]]:
    """Yield ``(code, message, coordinate)`` for every unknown type or directive used."""
    known = set(subgraph.types) | BUILTIN_SCALARS
    for typedef in subgraph.types.values():
        for field in typedef.fields.values():
            coordinate = f"{typedef.name}.{field.name}"
            for ref in [field.type, *(a.type for a in field.arguments.values())]:
                target = base_name(ref)
                if target not in known and not is_internal_type(target):
                    yield (
                        "INVALID_GRAPHQL",
                        f'Unknown type "{target}" (used by "{coordinate}").',
                        coordinate,
                    )
        for ref_name in (*typedef.interfaces, *typedef.members):
            if ref_name not in known:
                yield (
                    "INVALID_GRAPHQL",
                    f'Unknown type "{ref_name}" (used by "{typedef.name}").',
                    typedef.name,
                )
    defined = {d.name.value for d in document.definitions if isinstance(d, DirectiveDefinitionNode)}
    known_directives = defined | BUILTIN_DIRECTIVES | set(link.directives)
    unknown: list[str] = []
    unsupported: list[str] = []

    class _Directives(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: object) -> None:
            name = node.name.value
            if name not in known_directives and name not in unknown:
                unknown.append(name)
            canonical = link.canonical(name)
            if canonical in UNSUPPORTED and canonical not in unsupported:
                unsupported.append(canonical)

    visit(document, _Directives())
    for name in unknown:
        message = f'Unknown directive "@{name}".'
        if not link.fed2 and name in FEDERATION_DIRECTIVES:
            message += (
                f' If you meant the "@{name}" federation 2 directive, note that this schema is a '
                "federation 1 schema. To be a federation 2 schema, it needs to @link to the "
                "federation specification v2."
            )
        yield "INVALID_GRAPHQL", message, None
    for name in unsupported:
        yield (
            "UNSUPPORTED_FEDERATION_DIRECTIVE",
            f"@{name} is not supported by this gateway's composition yet; remove it from the "
            "subgraph (or compose with rover and serve that supergraph elsewhere).",
            None,
        )
