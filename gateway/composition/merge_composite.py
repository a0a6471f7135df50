"""Merging object and interface types, including what @interfaceObject adds to them."""

from __future__ import annotations

from gateway.composition.errors import human_list
from gateway.composition.merge import MergeContext, Sources
from gateway.composition.merge_fields import add_fields_shallow, merge_field
from gateway.composition.model import Field, Kind, TypeDef
from gateway.composition.override import OverrideState, validate_override
from gateway.composition.sharing import validate_field_sharing, validate_subscription_field
from gateway.composition.supergraph_model import JoinField, SuperField, SuperType


def merge_object(ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType) -> None:
    added = add_fields_shallow(ctx, sources, dest)
    if not added:
        del ctx.supergraph.types[dest.name]
        return
    is_subscription = dest.name == "Subscription"
    for name, field_sources in added.items():
        dest_field = dest.fields[name]
        state = validate_override(ctx, field_sources, dest, name)
        if is_subscription:
            validate_subscription_field(ctx, field_sources, dest, dest_field)
        merge_field(ctx, field_sources, dest, dest_field, state)
        validate_field_sharing(ctx, field_sources, dest, dest_field, state)


def merge_interface(ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType) -> None:
    implementations = [
        t.name
        for t in ctx.supergraph.types.values()
        if t.kind is Kind.OBJECT and dest.name in t.interfaces
    ]
    if all(s is not None and s.interface_object for s in sources.values()):
        defining = [ctx.names[i] for i in sources]
        ctx.error(
            "INTERFACE_OBJECT_USAGE_ERROR",
            f'Type "{dest.name}" is declared with @interfaceObject in all the subgraphs in which '
            f"it is defined (it is defined in {human_list(defining)} but should be defined as an "
            "interface in at least one subgraph)",
            defining,
            dest.name,
        )
    for idx, source in sources.items():
        subgraph = ctx.subgraphs[idx]
        assert source is not None  # type sources only list subgraphs that define the type
        if source.interface_object:
            defined = [name for name in implementations if name in subgraph.types]
            if defined:
                listed = ", ".join(f'"{n}"' for n in defined)
                ctx.error(
                    "INTERFACE_OBJECT_USAGE_ERROR",
                    f'[{subgraph.name}] Interface type "{dest.name}" is defined as an '
                    f'@interfaceObject in subgraph "{subgraph.name}" so that subgraph should not '
                    f'define any of the implementation types of "{dest.name}", but it defines '
                    f"{'types' if len(defined) > 1 else 'type'} {listed}",
                    [subgraph.name],
                    dest.name,
                )
            continue
        resolvable = [k for k in source.keys if k.resolvable]
        if resolvable:
            missing = [
                n
                for n in implementations
                if n not in {t.name for t in subgraph.implementations(dest.name)}
            ]
            if missing:
                listed = ", ".join(f'"{n}"' for n in missing)
                ctx.error(
                    "INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE",
                    f'[{subgraph.name}] Interface type "{dest.name}" has a resolvable key '
                    f'(@key(fields: "{resolvable[0].fields}")) in subgraph "{subgraph.name}" but '
                    f"that subgraph is missing some of the supergraph implementation types of "
                    f'"{dest.name}". Subgraph "{subgraph.name}" should define '
                    f"{'types' if len(missing) > 1 else 'type'} {listed} (and have "
                    f'{"them" if len(missing) > 1 else "it"} implement "{dest.name}").',
                    [subgraph.name],
                    dest.name,
                )
    added = add_fields_shallow(ctx, sources, dest)
    for name, field_sources in added.items():
        state = validate_override(ctx, field_sources, dest, name)
        merge_field(ctx, field_sources, dest, dest.fields[name], state)


def add_interface_object_fields(ctx: MergeContext) -> None:
    """Fields an @interfaceObject adds to an interface also appear on every implementation."""
    for dest in list(ctx.supergraph.types.values()):
        if dest.kind is not Kind.OBJECT:
            continue
        for itf_name in dest.interfaces:
            itf = ctx.supergraph.types.get(itf_name)
            if itf is None:
                continue
            for itf_field in itf.fields.values():
                if itf_field.name in dest.fields or not _provided_by_interface_object(
                    ctx, itf_field.name, itf_name
                ):
                    continue
                dest.fields[itf_field.name] = SuperField(
                    name=itf_field.name,
                    type=itf_field.type,
                    arguments=dict(itf_field.arguments),
                    description=itf_field.description,
                    tags=list(itf_field.tags),
                    inaccessible=itf_field.inaccessible,
                    deprecated=itf_field.deprecated,
                    applied_order=list(itf_field.applied_order),
                    joins=[JoinField(graph=None)],
                )
                # Every subgraph "lacks" the field; sharing is judged on the interface objects.
                no_sources: Sources[Field] = dict.fromkeys(range(len(ctx.subgraphs)))
                validate_field_sharing(
                    ctx, no_sources, dest, dest.fields[itf_field.name], OverrideState()
                )


def _provided_by_interface_object(ctx: MergeContext, field_name: str, itf_name: str) -> bool:
    for subgraph in ctx.subgraphs:
        local = subgraph.types.get(itf_name)
        if (
            local is not None
            and local.interface_object
            and field_name in local.fields
            and f"{itf_name}.{field_name}" not in subgraph.external
        ):
            return True
    return False
