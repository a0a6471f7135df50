"""``compose()``: subgraph SDLs in, Apollo-format supergraph SDL out (or every problem)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.composition.errors import (
    CompositionError,
    CompositionHint,
    CompositionProblem,
)
from gateway.composition.facts import compute_facts
from gateway.composition.merge import (
    MergeContext,
    Sources,
    add_join_type,
    add_types_shallow,
    check_extension_with_no_base,
    merge_access,
    merge_description,
    merge_implements,
    merge_union,
)
from gateway.composition.merge_composite import (
    add_interface_object_fields,
    merge_interface,
    merge_object,
)
from gateway.composition.merge_values import merge_enum, merge_input
from gateway.composition.model import Kind, Subgraph, TypeDef
from gateway.composition.printer import print_supergraph
from gateway.composition.satisfiability import check_satisfiability
from gateway.composition.subgraph import SubgraphDefinition, parse_subgraph
from gateway.composition.subgraph_rules import check_subgraph
from gateway.composition.supergraph_model import Supergraph, SuperType
from gateway.composition.supergraph_rules import check_supergraph
from gateway.composition.upgrade import extensions_with_no_base, upgrade_fed1

SUPPORTED_JOIN_VERSIONS = ((0, 3), (0, 4), (0, 5))
ROOTS = (("query", "Query"), ("mutation", "Mutation"), ("subscription", "Subscription"))


@dataclass(frozen=True, slots=True)
class CompositionResult:
    supergraph_sdl: str
    supergraph: Supergraph
    hints: tuple[CompositionHint, ...]


def compose(
    subgraphs: Sequence[SubgraphDefinition], *, join_version: tuple[int, int] | None = None
) -> str:
    """Compose subgraphs into supergraph SDL, raising :class:`CompositionError`.

    Like Apollo, the join spec version follows the newest federation version the
    subgraphs link: v0.3 up to federation 2.6, v0.4 for 2.7, v0.5 from 2.8 on.
    The directives used are the same in all three; pass ``join_version=(0, 3)``
    to force the oldest form.
    """
    return compose_with_hints(subgraphs, join_version=join_version).supergraph_sdl


def join_version_for(subgraphs: Sequence[Subgraph]) -> tuple[int, int]:
    newest = max((s.fed_version for s in subgraphs if s.fed2), default=(2, 0))
    if newest >= (2, 8):
        return (0, 5)
    if newest >= (2, 7):
        return (0, 4)
    return (0, 3)


def compose_with_hints(
    subgraphs: Sequence[SubgraphDefinition], *, join_version: tuple[int, int] | None = None
) -> CompositionResult:
    if join_version is not None and join_version not in SUPPORTED_JOIN_VERSIONS:
        raise ValueError(f"join_version must be one of {SUPPORTED_JOIN_VERSIONS}")
    parsed = _prepare(subgraphs)
    ctx = MergeContext(parsed)
    ctx.supergraph.join_version = join_version or join_version_for(parsed)
    _merge(ctx)
    if not ctx.problems:
        ctx.problems.extend(check_supergraph(ctx.supergraph, ctx.subgraphs))
    if not ctx.problems:
        ctx.problems.extend(check_satisfiability(ctx.supergraph, ctx.subgraphs, ctx.graphs))
    if ctx.problems:
        raise CompositionError(ctx.problems)
    sdl = print_supergraph(ctx.supergraph)
    return CompositionResult(sdl, ctx.supergraph, tuple(ctx.hints))


def _prepare(definitions: Sequence[SubgraphDefinition]) -> list[Subgraph]:
    problems: list[CompositionProblem] = []
    if not definitions:
        raise CompositionError(
            [CompositionProblem("NO_SUBGRAPHS", "At least one subgraph is needed to compose.")]
        )
    seen: set[str] = set()
    for definition in definitions:
        if definition.name in seen:
            problems.append(
                CompositionProblem(
                    "DUPLICATE_SUBGRAPH_NAME",
                    f'Subgraph name "{definition.name}" is used twice; names must be unique.',
                    (definition.name,),
                )
            )
        seen.add(definition.name)
        if not definition.name or definition.name.startswith("_"):
            problems.append(
                CompositionProblem(
                    "INVALID_SUBGRAPH_NAME",
                    f'Invalid subgraph name "{definition.name}": it must be non-empty and must '
                    'not start with "_".',
                    (definition.name,),
                )
            )
    parsed: list[Subgraph] = []
    for definition in definitions:
        subgraph, found = parse_subgraph(definition)
        parsed.append(subgraph)
        problems.extend(found)
    if problems:
        raise CompositionError(problems)
    # Apollo validates Fed2 subgraphs first and upgrades Fed1 ones only if all are valid.
    fed2 = [s for s in parsed if s.fed2]
    fed1 = [s for s in parsed if not s.fed2]
    for subgraph in fed2:
        compute_facts(subgraph)
        problems.extend(check_subgraph(subgraph, subgraph.fed_version))
    if problems:
        raise CompositionError(problems)
    for subgraph in fed1:
        problems.extend(extensions_with_no_base(subgraph, parsed))
    if problems:
        raise CompositionError(problems)
    for subgraph in fed1:
        problems.extend(upgrade_fed1(subgraph, parsed))
        problems.extend(check_subgraph(subgraph, subgraph.fed_version))
    if problems:
        raise CompositionError(problems)
    return parsed


def _merge(ctx: MergeContext) -> None:
    supergraph = ctx.supergraph
    add_types_shallow(ctx)
    check_extension_with_no_base(ctx)
    by_kind: dict[Kind, list[SuperType]] = {kind: [] for kind in Kind}
    for dest in supergraph.types.values():
        by_kind[dest.kind].append(dest)
    for dest in by_kind[Kind.OBJECT] + by_kind[Kind.INTERFACE]:
        merge_implements(ctx, dest)
    for dest in by_kind[Kind.UNION]:
        sources = _start_type(ctx, dest)
        merge_union(ctx, sources, dest)
    ordered = by_kind[Kind.SCALAR] + by_kind[Kind.INPUT] + by_kind[Kind.INTERFACE]
    for dest in ordered + by_kind[Kind.OBJECT]:
        sources = _start_type(ctx, dest)
        if dest.kind is Kind.INPUT:
            merge_input(ctx, sources, dest)
        elif dest.kind is Kind.INTERFACE:
            merge_interface(ctx, sources, dest)
        elif dest.kind is Kind.OBJECT:
            merge_object(ctx, sources, dest)
    for dest in by_kind[Kind.ENUM]:
        merge_enum(ctx, _start_type(ctx, dest), dest)
    for operation, name in ROOTS:
        if name in supergraph.types and supergraph.types[name].kind is Kind.OBJECT:
            supergraph.roots[operation] = name
    if "query" not in supergraph.roots:
        ctx.error(
            "NO_QUERIES",
            "No queries found in any subgraph: a supergraph must have a query root type.",
        )
    add_interface_object_fields(ctx)
    for subgraph in ctx.subgraphs:
        supergraph.tag_name = supergraph.tag_name or subgraph.tag_name
        supergraph.inaccessible_name = supergraph.inaccessible_name or subgraph.inaccessible_name
        for spec, used in (
            ("tag", subgraph.tag_name),
            ("inaccessible", subgraph.inaccessible_name),
        ):
            if used and spec not in supergraph.link_order:
                supergraph.link_order.append(spec)


def _start_type(ctx: MergeContext, dest: SuperType) -> Sources[TypeDef]:
    sources = ctx.type_sources(dest.name, dest.kind)
    merge_description(dict(sources), dest)
    merge_access(dict(sources), dest)
    add_join_type(ctx, sources, dest)
    return sources
