"""Merging one field of an object or interface type across subgraphs."""

from __future__ import annotations

from graphql import NonNullTypeNode

from gateway.composition.errors import human_list
from gateway.composition.merge import (
    MergeContext,
    Sources,
    merge_access,
    merge_description,
)
from gateway.composition.model import Argument, Field, Kind, TypeDef, type_str
from gateway.composition.override import OverrideState, is_external
from gateway.composition.supergraph_model import (
    JoinField,
    SuperArgument,
    SuperField,
    SuperType,
)
from gateway.composition.type_merge import (
    is_strict_subtype,
    is_subtype,
    merge_default,
    merge_type_reference,
    same_type,
)


def abstracted_fields(
    ctx: MergeContext, parent: SuperType, field_name: str, idx: int
) -> list[tuple[str, Field]]:
    """Fields of ``@interfaceObject`` types standing in, in subgraph ``idx``, for ``parent``."""
    subgraph = ctx.subgraphs[idx]
    if parent.kind is not Kind.OBJECT or parent.name in subgraph.types:
        return []
    found = []
    for itf in parent.interfaces:
        itf_type = ctx.supergraph.types.get(itf)
        local = subgraph.types.get(itf)
        if itf_type is None or field_name not in itf_type.fields or local is None:
            continue
        if local.kind is Kind.OBJECT and field_name in local.fields:
            found.append((itf, local.fields[field_name]))
    return found


def add_fields_shallow(
    ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType
) -> dict[str, Sources[Field]]:
    extra: dict[int, Field | None] = {}
    for idx, subgraph in enumerate(ctx.subgraphs):
        if dest.name in subgraph.types:
            extra[idx] = None
        for itf in dest.interfaces:
            local = subgraph.types.get(itf)
            if dest.kind in (Kind.OBJECT, Kind.INTERFACE) and local and local.interface_object:
                extra[idx] = None
    added: dict[str, Sources[Field]] = {}
    for idx, source in sources.items():
        if source is None:
            continue
        for name, fld in source.fields.items():
            if name not in dest.fields:
                dest.fields[name] = SuperField(name=name)
            added.setdefault(name, dict(sorted(extra.items()))).__setitem__(idx, fld)
    return added


def merge_field(
    ctx: MergeContext,
    sources: Sources[Field],
    parent: SuperType,
    dest: SuperField,
    state: OverrideState,
) -> None:
    coordinate = f"{parent.name}.{dest.name}"
    every_external = True
    for idx, source in sources.items():
        if source is None:
            every_external = all(
                is_external(ctx, idx, itf, dest.name)
                for itf, _ in abstracted_fields(ctx, parent, dest.name, idx)
            )
        else:
            every_external = is_external(ctx, idx, parent.name, dest.name)
        if not every_external:
            break
    if every_external:
        defining = [ctx.names[i] for i, s in sources.items() if s is not None]
        ctx.error(
            "EXTERNAL_MISSING_ON_BASE",
            f'Field "{coordinate}" is marked @external on all the subgraphs in which it is listed '
            f"({human_list(defining)}).",
            defining,
            coordinate,
        )
        return
    without_external: Sources[Field] = {
        i: (None if s is not None and is_external(ctx, i, parent.name, dest.name) else s)
        for i, s in sources.items()
    }
    _reject_merged_directives_on_external(ctx, sources, without_external, coordinate)
    defined = any(s is not None for s in without_external.values())
    if defined:
        merge_description(dict(without_external), dest)
        merge_access(dict(without_external), dest)
        _merge_arguments(ctx, without_external, dest, coordinate)
    all_equal = merge_type_reference(
        ctx, without_external if defined else sources, dest, coordinate, is_input=False
    )
    if any(
        s is not None and is_external(ctx, i, parent.name, dest.name) for i, s in sources.items()
    ):
        _validate_external(ctx, sources, parent, dest, coordinate, all_equal)
    add_join_field(ctx, sources, parent, dest, all_equal, state)


def _reject_merged_directives_on_external(
    ctx: MergeContext,
    sources: Sources[Field],
    without_external: Sources[Field],
    coordinate: str,
) -> None:
    """@tag, @inaccessible and @deprecated on an @external field would be silently lost."""
    for idx, source in sources.items():
        if source is None or without_external.get(idx) is not None:
            continue
        applied = [f"@{ctx.subgraphs[idx].inaccessible_name}"] if source.inaccessible else []
        applied += [f'@{ctx.subgraphs[idx].tag_name}(name: "{t}")' for t in source.tags]
        if source.deprecated is not None:
            applied.append("@deprecated")
        for directive in applied:
            ctx.error(
                "MERGED_DIRECTIVE_APPLICATION_ON_EXTERNAL",
                f"[{ctx.names[idx]}] Cannot apply merged directive {directive} to external field "
                f'"{coordinate}"',
                [ctx.names[idx]],
                coordinate,
            )


def _merge_arguments(
    ctx: MergeContext, sources: Sources[Field], dest: SuperField, coordinate: str
) -> None:
    names: list[str] = []
    for source in sources.values():
        for name in source.arguments if source is not None else ():
            if name not in names:
                names.append(name)
    for name in names:
        arg_coordinate = f"{coordinate}({name}:)"
        arg_sources: Sources[Argument] = {
            i: s.arguments.get(name) for i, s in sources.items() if s is not None
        }
        missing = [ctx.names[i] for i, a in arg_sources.items() if a is None]
        if missing:
            required = [
                ctx.names[i]
                for i, a in arg_sources.items()
                if a is not None and isinstance(a.type, NonNullTypeNode) and a.default is None
            ]
            if required:
                ctx.error(
                    "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
                    f'Argument "{arg_coordinate}" is required in some subgraphs but does not '
                    f"appear in all subgraphs: it is required in {human_list(required)} but "
                    f"does not appear in {human_list(missing)}",
                    required + missing,
                    arg_coordinate,
                )
            else:
                ctx.hint(
                    "INCONSISTENT_ARGUMENT_PRESENCE",
                    f'Optional argument "{arg_coordinate}" will not be included in the '
                    f"supergraph as it does not appear in all subgraphs: it is not in "
                    f"{human_list(missing)}",
                    arg_coordinate,
                )
            continue
        arg = dest.arguments[name] = SuperArgument(name=name)
        merge_description(dict(arg_sources), arg)
        merge_access(dict(arg_sources), arg)
        merge_type_reference(ctx, arg_sources, arg, arg_coordinate, is_input=True, is_argument=True)
        merge_default(ctx, arg_sources, arg, arg_coordinate, "Argument")


def _validate_external(
    ctx: MergeContext,
    sources: Sources[Field],
    parent: SuperType,
    dest: SuperField,
    coordinate: str,
    all_equal: bool,
) -> None:
    bad_type = []
    for idx, source in sources.items():
        if source is None or not is_external(ctx, idx, parent.name, dest.name):
            continue
        if not (
            same_type(dest.type, source.type)
            or (not all_equal and is_strict_subtype(ctx, dest.type, source.type))
        ):
            bad_type.append(ctx.names[idx])
        for name, dest_arg in dest.arguments.items():
            arg = source.arguments.get(name)
            if arg is None:
                ctx.error(
                    "EXTERNAL_ARGUMENT_MISSING",
                    f'Field "{coordinate}" is missing argument "{coordinate}({name}:)" in '
                    f'subgraph "{ctx.names[idx]}" where it is marked @external.',
                    [ctx.names[idx]],
                    coordinate,
                )
            elif not is_subtype(ctx, arg.type, dest_arg.type):
                ctx.error(
                    "EXTERNAL_ARGUMENT_TYPE_MISMATCH",
                    f'Type of argument "{coordinate}({name}:)" is incompatible across subgraphs '
                    f'(where "{coordinate}" is marked @external): it has type '
                    f'"{type_str(arg.type)}" in subgraph "{ctx.names[idx]}" but '
                    f'"{type_str(dest_arg.type)}" in the supergraph',
                    [ctx.names[idx]],
                    coordinate,
                )
    if bad_type:
        ctx.error(
            "EXTERNAL_TYPE_MISMATCH",
            f'Type of field "{coordinate}" is incompatible across subgraphs (where marked '
            "@external): it has " + ctx.mismatch(sources, lambda s: f'type "{type_str(s.type)}"'),
            [ctx.names[i] for i, s in sources.items() if s is not None],
            coordinate,
        )


def _needs_join_field(
    ctx: MergeContext,
    sources: Sources[Field],
    parent_name: str,
    all_equal: bool,
    state: OverrideState,
) -> bool:
    if not all_equal or state.used_overridden:
        return True
    for idx, source in sources.items():
        if source is not None and idx not in state.unused_overridden:
            if (
                is_external(ctx, idx, parent_name, source.name)
                or source.provides is not None
                or source.requires is not None
            ):
                return True
        elif parent_name in ctx.subgraphs[idx].types:
            return True
    return False


def add_join_field(
    ctx: MergeContext,
    sources: Sources[Field],
    parent: SuperType,
    dest: SuperField,
    all_equal: bool,
    state: OverrideState,
) -> None:
    if not _needs_join_field(ctx, sources, parent.name, all_equal, state):
        return
    for idx, source in sources.items():
        if source is None or idx in state.unused_overridden:
            continue
        dest.joins.append(
            JoinField(
                graph=ctx.graphs[idx],
                requires=source.requires,
                provides=source.provides,
                type=None if all_equal else type_str(source.type),
                external=is_external(ctx, idx, parent.name, source.name),
                override=source.override,
                used_overridden=idx in state.used_overridden,
            )
        )
