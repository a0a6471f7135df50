"""Merging type references and default values across subgraphs (Apollo's subtyping rules)."""

from __future__ import annotations

from graphql import ListTypeNode, NonNullTypeNode, TypeNode, print_ast

from gateway.composition.merge import MergeContext, Sources
from gateway.composition.model import Argument, Field, Kind, base_name, type_str
from gateway.composition.supergraph_model import SuperArgument, SuperField


def same_type(a: TypeNode, b: TypeNode) -> bool:
    return type_str(a) == type_str(b)


def is_strict_subtype(ctx: MergeContext, super_t: TypeNode, sub_t: TypeNode) -> bool:
    """Apollo's default subtyping: implementations, union members, non-null and list propagation."""
    if isinstance(sub_t, ListTypeNode):
        return isinstance(super_t, ListTypeNode) and is_subtype(ctx, super_t.type, sub_t.type)
    if isinstance(sub_t, NonNullTypeNode):
        if isinstance(super_t, NonNullTypeNode):
            return is_subtype(ctx, super_t.type, sub_t.type)
        return is_subtype(ctx, super_t, sub_t.type)
    if isinstance(super_t, NonNullTypeNode | ListTypeNode):
        return False
    super_type = ctx.supergraph.types.get(base_name(super_t))
    sub_type = ctx.supergraph.types.get(base_name(sub_t))
    if super_type is None or sub_type is None:
        return False
    if sub_type.kind not in (Kind.OBJECT, Kind.INTERFACE):
        return False
    if super_type.kind is Kind.INTERFACE:
        return super_type.name in sub_type.interfaces
    return super_type.kind is Kind.UNION and sub_type.name in super_type.members


def is_subtype(ctx: MergeContext, super_t: TypeNode, sub_t: TypeNode) -> bool:
    return same_type(super_t, sub_t) or is_strict_subtype(ctx, super_t, sub_t)


def merge_type_reference(
    ctx: MergeContext,
    sources: Sources[Field] | Sources[Argument],
    dest: SuperField | SuperArgument,
    coordinate: str,
    *,
    is_input: bool,
    is_argument: bool = False,
) -> bool:
    """Pick the merged type (most general for outputs, most specific for inputs).

    Returns whether every subgraph used the very same type, which decides whether
    ``join__field(type:)`` must record each subgraph's own type.
    """
    dest_type: TypeNode | None = None
    has_subtypes = False
    has_incompatible = False
    for source in sources.values():
        if source is None:
            continue
        if dest_type is None or same_type(dest_type, source.type):
            dest_type = source.type
        elif is_strict_subtype(ctx, dest_type, source.type):
            has_subtypes = True
            if is_input:
                dest_type = source.type
        elif is_strict_subtype(ctx, source.type, dest_type):
            has_subtypes = True
            if not is_input:
                dest_type = source.type
        else:
            has_incompatible = True
    assert dest_type is not None
    dest.type = dest_type
    base = ctx.supergraph.types.get(base_name(dest_type))
    if base is not None and base.kind is Kind.ENUM:
        position = "Input" if is_input else "Output"
        previous, examples = ctx.enum_usages.get(base.name, (position, {}))
        examples.setdefault(position, coordinate)
        ctx.enum_usages[base.name] = (previous if previous == position else "Both", examples)
    element = "argument" if is_argument else "field"
    if has_incompatible:
        ctx.error(
            "FIELD_ARGUMENT_TYPE_MISMATCH" if is_argument else "FIELD_TYPE_MISMATCH",
            f'Type of {element} "{coordinate}" is incompatible across subgraphs: it has '
            + ctx.mismatch(sources, lambda s: f'type "{type_str(s.type)}"'),
            [ctx.names[i] for i, s in sources.items() if s is not None],
            coordinate,
        )
        return False
    if has_subtypes:
        ctx.hint(
            "INCONSISTENT_BUT_COMPATIBLE_ARGUMENT_TYPE"
            if is_argument
            else "INCONSISTENT_BUT_COMPATIBLE_FIELD_TYPE",
            f'Type of {element} "{coordinate}" is inconsistent but compatible across subgraphs: '
            f'will use type "{type_str(dest_type)}" in the supergraph; it has '
            + ctx.mismatch(sources, lambda s: f'type "{type_str(s.type)}"'),
            coordinate,
        )
        return False
    return True


def merge_default(
    ctx: MergeContext,
    sources: Sources[Field] | Sources[Argument],
    dest: SuperField | SuperArgument,
    coordinate: str,
    kind: str,
) -> None:
    printed: dict[str, object] = {}
    missing = False
    for source in sources.values():
        if source is None:
            continue
        if source.default is None:
            missing = True
        else:
            printed.setdefault(print_ast(source.default), source.default)
    if len(printed) > 1:
        code = (
            "FIELD_ARGUMENT_DEFAULT_MISMATCH"
            if kind == "Argument"
            else "INPUT_FIELD_DEFAULT_MISMATCH"
        )
        ctx.error(
            code,
            f'{kind} "{coordinate}" has incompatible default values across subgraphs: it has '
            + ctx.mismatch(
                sources,
                lambda s: (
                    f"default value {print_ast(s.default)}"
                    if s.default is not None
                    else "no default value"
                ),
            ),
            [ctx.names[i] for i, s in sources.items() if s is not None],
            coordinate,
        )
        return
    if printed:
        dest.default = next(s.default for s in sources.values() if s and s.default is not None)
        if missing:
            ctx.hint(
                "INCONSISTENT_DEFAULT_VALUE_PRESENCE",
                f'{kind} "{coordinate}" has a default value in only some subgraphs.',
                coordinate,
            )
