"""Merging the value types: input objects (intersection) and enums (by how they are used)."""

from __future__ import annotations

from graphql import NonNullTypeNode

from gateway.composition.errors import human_list
from gateway.composition.merge import MergeContext, Sources, merge_access, merge_description
from gateway.composition.merge_fields import add_fields_shallow, add_join_field
from gateway.composition.model import EnumValue, Field, TypeDef
from gateway.composition.override import OverrideState
from gateway.composition.supergraph_model import SuperEnumValue, SuperType
from gateway.composition.type_merge import merge_default, merge_type_reference


def merge_input(ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType) -> None:
    added = add_fields_shallow(ctx, sources, dest)
    for name, field_sources in added.items():
        dest_field = dest.fields[name]
        coordinate = f"{dest.name}.{name}"
        merge_description(dict(field_sources), dest_field)
        merge_access(dict(field_sources), dest_field)
        all_equal = merge_type_reference(ctx, field_sources, dest_field, coordinate, is_input=True)
        add_join_field(ctx, field_sources, dest, dest_field, all_equal, OverrideState())
        merge_default(ctx, field_sources, dest_field, coordinate, "Input field")
        missing = [ctx.names[i] for i, f in field_sources.items() if f is None]
        if dest_field.inaccessible or not missing:
            continue
        required = [
            ctx.names[i] for i, f in field_sources.items() if f is not None and _required(f)
        ]
        if required:
            ctx.error(
                "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
                f'Input object field "{coordinate}" is required in some subgraphs but does not '
                f"appear in all subgraphs: it is required in {human_list(required)} but does not "
                f"appear in {human_list(missing)}",
                required + missing,
                coordinate,
            )
        else:
            ctx.hint(
                "INCONSISTENT_INPUT_OBJECT_FIELD",
                f'Input object field "{name}" will not be added to "{dest.name}" in the '
                f"supergraph as it does not appear in all subgraphs: it is not in "
                f"{human_list(missing)}.",
                coordinate,
            )
        del dest.fields[name]
    if not dest.fields:
        ctx.error(
            "EMPTY_MERGED_INPUT_TYPE",
            f'None of the fields of input object type "{dest.name}" are consistently defined in '
            "all the subgraphs defining that type. As only fields common to all subgraphs are "
            "merged, this would result in an empty type.",
            [ctx.names[i] for i in sources],
            dest.name,
        )


def _required(field: Field) -> bool:
    return isinstance(field.type, NonNullTypeNode) and field.default is None


def merge_enum(ctx: MergeContext, sources: Sources[TypeDef], dest: SuperType) -> None:
    position, examples = ctx.enum_usages.get(dest.name, ("Output", {}))
    if dest.name not in ctx.enum_usages:
        ctx.hint(
            "UNUSED_ENUM_TYPE",
            f'Enum type "{dest.name}" is defined but unused. It will be included in the '
            'supergraph with all the values appearing in any subgraph ("as if" it was only used '
            "as an output type).",
            dest.name,
        )
    for source in sources.values():
        assert source is not None
        for name in source.values:
            dest.values.setdefault(name, SuperEnumValue(name=name))
    for name in list(dest.values):
        value = dest.values[name]
        value_sources: Sources[EnumValue] = {
            i: s.values.get(name) for i, s in sources.items() if s is not None
        }
        merge_description(dict(value_sources), value)
        merge_access(dict(value_sources), value)
        value.graphs = [ctx.graphs[i] for i, v in value_sources.items() if v is not None]
        having = [ctx.names[i] for i, v in value_sources.items() if v is not None]
        missing = [ctx.names[i] for i, v in value_sources.items() if v is None]
        if not missing or value.inaccessible:
            continue
        if position == "Both":
            ctx.error(
                "ENUM_VALUE_MISMATCH",
                f'Enum type "{dest.name}" is used as both input type (for example, as type of '
                f'"{examples.get("Input")}") and output type (for example, as type of '
                f'"{examples.get("Output")}"), but value "{name}" is not defined in all the '
                f'subgraphs defining "{dest.name}": "{name}" is defined in {human_list(having)} '
                f"but not in {human_list(missing)}",
                having + missing,
                f"{dest.name}.{name}",
            )
        elif position == "Input":
            ctx.hint(
                "INCONSISTENT_ENUM_VALUE_FOR_INPUT_ENUM",
                f'Value "{name}" of enum type "{dest.name}" will not be part of the supergraph as '
                f'it is not defined in all the subgraphs defining "{dest.name}": it is not in '
                f"{human_list(missing)}",
                f"{dest.name}.{name}",
            )
            del dest.values[name]
        else:
            ctx.hint(
                "INCONSISTENT_ENUM_VALUE_FOR_OUTPUT_ENUM",
                f'Value "{name}" of enum type "{dest.name}" has been added to the supergraph but '
                f'is only defined in a subset of the subgraphs defining "{dest.name}": it is not '
                f"in {human_list(missing)}",
                f"{dest.name}.{name}",
            )
    if not dest.values:
        ctx.error(
            "EMPTY_MERGED_ENUM_TYPE",
            f'None of the values of enum type "{dest.name}" are defined consistently in all the '
            "subgraphs defining that type. As only values common to all subgraphs are merged, "
            "this would result in an empty type.",
            [ctx.names[i] for i in sources],
            dest.name,
        )
