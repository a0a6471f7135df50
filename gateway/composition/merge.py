"""Merge parsed subgraphs into one supergraph, type by type (Apollo's ``Merger``).

Subgraphs are taken in name order (Apollo's ``Subgraphs`` is an ordered map);
``sources`` below always maps a subgraph index to that subgraph's element, or
``None`` when the subgraph has the parent type but not the element.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from gateway.composition.errors import CompositionHint, CompositionProblem, human_list
from gateway.composition.model import Kind, Subgraph, Tagged, TypeDef
from gateway.composition.supergraph_model import JoinGraph, JoinType, Supergraph, SuperType

T = TypeVar("T")
Sources = dict[int, T | None]

_KIND_NAMES = {
    Kind.OBJECT: "Object Type",
    Kind.INTERFACE: "Interface Type",
    Kind.UNION: "Union Type",
    Kind.ENUM: "Enum Type",
    Kind.INPUT: "Input Object Type",
    Kind.SCALAR: "Scalar Type",
}


def graph_enum_names(names: Sequence[str]) -> list[str]:
    """Apollo's ``join__Graph`` value names: sanitized, upper-cased, de-duplicated."""
    sanitized = []
    for name in names:
        value = re.sub(r"\W", "_", name)
        if re.match(r"^\d", value):
            value = "_" + value
        if re.search(r"_\d+$", value):
            value += "_"
        sanitized.append(value.upper())
    seen: dict[str, int] = {}
    result = []
    for value in sanitized:
        if sanitized.count(value) == 1:
            result.append(value)
        else:
            seen[value] = seen.get(value, 0) + 1
            result.append(f"{value}_{seen[value]}")
    return result


class MergeContext:
    """State shared by the merge steps: the subgraphs, the result, problems and hints."""

    def __init__(self, subgraphs: Sequence[Subgraph]) -> None:
        self.subgraphs = sorted(subgraphs, key=lambda s: s.name)
        self.names = [s.name for s in self.subgraphs]
        self.graphs = graph_enum_names(self.names)
        self.problems: list[CompositionProblem] = []
        self.hints: list[CompositionHint] = []
        self.enum_usages: dict[str, tuple[str, dict[str, str]]] = {}
        self.supergraph = Supergraph(
            graphs=[
                JoinGraph(enum, s.name, s.url)
                for enum, s in zip(self.graphs, self.subgraphs, strict=True)
            ]
        )

    def error(
        self,
        code: str,
        message: str,
        subgraphs: Sequence[str] = (),
        coordinate: str | None = None,
    ) -> None:
        self.problems.append(CompositionProblem(code, message, tuple(subgraphs), coordinate))

    def hint(self, code: str, message: str, coordinate: str | None = None) -> None:
        self.hints.append(CompositionHint(code, message, coordinate))

    def type_sources(self, name: str, kind: Kind) -> Sources[TypeDef]:
        sources: Sources[TypeDef] = {}
        for idx, subgraph in enumerate(self.subgraphs):
            typedef = subgraph.types.get(name)
            if typedef is not None and _effective_kind(typedef) is kind:
                sources[idx] = typedef
        return sources

    def mismatch(self, sources: Mapping[int, Any], describe: Callable[[Any], str]) -> str:
        """``"X" in subgraph "a" but "Y" in subgraphs "b" and "c"`` for differing elements."""
        groups: dict[str, list[str]] = {}
        for idx, element in sources.items():
            if element is not None:
                groups.setdefault(describe(element), []).append(self.names[idx])
        parts = [f"{text} in {human_list(names)}" for text, names in groups.items()]
        return parts[0] + (" but " + " and ".join(parts[1:]) if len(parts) > 1 else "")


def _effective_kind(typedef: TypeDef) -> Kind:
    return Kind.INTERFACE if typedef.interface_object else typedef.kind


def merge_description(sources: Mapping[int, Tagged | None], dest: Tagged) -> None:
    """The description most subgraphs agree on (a lone non-empty one wins over empty ones)."""
    counts: dict[str, int] = {}
    for source in sources.values():
        if source is not None and source.description is not None:
            counts[source.description] = counts.get(source.description, 0) + 1
    if not counts:
        return
    non_empty = [d for d in counts if d != ""]
    if len(counts) == 1:
        dest.description = next(iter(counts))
    elif len(non_empty) == 1:
        dest.description = non_empty[0]
    else:
        dest.description = max(non_empty, key=lambda d: counts[d])


def merge_access(sources: Mapping[int, Tagged | None], dest: Tagged) -> None:
    """@tag applications are unioned and @inaccessible anywhere makes the element inaccessible."""
    for source in sources.values():
        if source is None:
            continue
        dest.inaccessible = dest.inaccessible or source.inaccessible
        if dest.deprecated is None:
            dest.deprecated = source.deprecated
        if dest.specified_by is None:
            dest.specified_by = source.specified_by
        for name in source.applied_order:
            if name not in dest.applied_order:
                dest.applied_order.append(name)
        for tag in source.tags:
            if tag not in dest.tags:
                dest.tags.append(tag)


def add_types_shallow(ctx: MergeContext) -> None:
    kinds: dict[str, tuple[Kind, list[str]]] = {}
    mismatched: set[str] = set()
    for subgraph in ctx.subgraphs:
        for typedef in subgraph.types.values():
            kind = _effective_kind(typedef)
            seen = kinds.get(typedef.name)
            if seen is None:
                kinds[typedef.name] = (kind, [subgraph.name])
                ctx.supergraph.types[typedef.name] = SuperType(name=typedef.name, kind=kind)
            elif seen[0] is not kind:
                mismatched.add(typedef.name)
            else:
                seen[1].append(subgraph.name)
    for name in sorted(mismatched):
        by_kind: dict[str, list[str]] = {}
        for subgraph in ctx.subgraphs:
            found = subgraph.types.get(name)
            if found is not None:
                by_kind.setdefault(_KIND_NAMES[_effective_kind(found)], []).append(subgraph.name)
        parts = [f"{kind} in {human_list(names)}" for kind, names in by_kind.items()]
        ctx.error(
            "TYPE_KIND_MISMATCH",
            f'Type "{name}" has mismatched kind: it is defined as ' + " but ".join(parts),
            [s for names in by_kind.values() for s in names],
            name,
        )
        del ctx.supergraph.types[name]


def merge_implements(ctx: MergeContext, dest: SuperType) -> None:
    for idx, source in ctx.type_sources(dest.name, dest.kind).items():
        assert source is not None
        for itf in source.interfaces:
            dest.implements.append((ctx.graphs[idx], itf))
            if itf not in dest.interfaces:
                dest.interfaces.append(itf)


def add_join_type(ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType) -> None:
    for idx, source in sources.items():
        assert source is not None
        graph = ctx.graphs[idx]
        if not source.keys:
            dest.joins.append(JoinType(graph, is_interface_object=source.interface_object))
        for key in source.keys:
            dest.joins.append(
                JoinType(
                    graph,
                    key=key.fields,
                    extension=key.of_extension or source.extends,
                    resolvable=key.resolvable,
                    is_interface_object=source.interface_object,
                )
            )


def check_extension_with_no_base(ctx: MergeContext) -> None:
    """A type only ever *extended* has no owner (root types excepted)."""
    for name, dest in ctx.supergraph.types.items():
        if dest.kind is Kind.OBJECT and name in ("Query", "Mutation", "Subscription"):
            continue
        sources = ctx.type_sources(name, dest.kind)
        if any(s is not None and s.has_definition for s in sources.values()):
            continue
        for idx, source in sources.items():
            if source is not None and source.has_extension:
                subgraph = ctx.names[idx]
                ctx.error(
                    "EXTENSION_WITH_NO_BASE",
                    f'[{subgraph}] Type "{name}" is an extension type, but there is no type '
                    f'definition for "{name}" in any subgraph.',
                    [subgraph],
                    name,
                )


def merge_union(ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType) -> None:
    for source in sources.values():
        assert source is not None
        for member in source.members:
            if member not in dest.members:
                dest.members.append(member)
    for member in dest.members:
        missing = []
        for idx, source in sources.items():
            assert source is not None
            if member in source.members:
                dest.union_members.append((ctx.graphs[idx], member))
            else:
                missing.append(ctx.names[idx])
        if missing:
            ctx.hint(
                "INCONSISTENT_UNION_MEMBER",
                f'Union type "{dest.name}" includes member type "{member}" in some but not all '
                f"defining subgraphs: it is not in {human_list(missing)}.",
                dest.name,
            )
