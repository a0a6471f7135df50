"""@override: which subgraph resolves a field once another takes it over."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.composition.merge import MergeContext, Sources
from gateway.composition.model import Field, Kind
from gateway.composition.supergraph_model import SuperType


@dataclass(slots=True)
class OverrideState:
    """What @override decided for one field, per subgraph index."""

    used_overridden: set[int] = field(default_factory=set)
    unused_overridden: set[int] = field(default_factory=set)
    unknown_target: set[int] = field(default_factory=set)

    def overridden(self, idx: int) -> bool:
        return idx in self.used_overridden or idx in self.unused_overridden


def is_external(ctx: MergeContext, idx: int, type_name: str, field_name: str) -> bool:
    return f"{type_name}.{field_name}" in ctx.subgraphs[idx].external


def validate_override(
    ctx: MergeContext, sources: Sources[Field], parent: SuperType, name: str
) -> OverrideState:
    state = OverrideState()
    coordinate = f"{parent.name}.{name}"
    with_override = [i for i, s in sources.items() if s is not None and s.override is not None]
    for idx in with_override:
        source = sources[idx]
        assert source is not None
        assert source.override is not None
        here = ctx.names[idx]
        local = ctx.subgraphs[idx].types[parent.name]
        target = source.override
        if parent.kind is Kind.INTERFACE and not local.interface_object:
            ctx.error(
                "OVERRIDE_ON_INTERFACE",
                f'@override cannot be used on field "{coordinate}" on subgraph "{here}": '
                "@override is not supported on interface type fields.",
                [here],
                coordinate,
            )
            continue
        if local.interface_object:
            ctx.error(
                "OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE",
                "@override is not yet supported on fields of @interfaceObject types: cannot be "
                f'used on field "{coordinate}" on subgraph "{here}".',
                [here],
                coordinate,
            )
            continue
        if source.override_label is not None:
            ctx.error(
                "UNSUPPORTED_FEDERATION_DIRECTIVE",
                f'Progressive @override (label "{source.override_label}") on field '
                f'"{coordinate}" in subgraph "{here}" is not supported by this gateway yet; '
                "remove the label to override the field fully.",
                [here],
                coordinate,
            )
            continue
        if target not in ctx.names:
            state.unknown_target.add(idx)
            ctx.hint(
                "FROM_SUBGRAPH_DOES_NOT_EXIST",
                f'Source subgraph "{target}" for field "{coordinate}" on subgraph "{here}" does '
                "not exist.",
                coordinate,
            )
            continue
        if target == here:
            ctx.error(
                "OVERRIDE_FROM_SELF_ERROR",
                f'Source and destination subgraphs "{target}" are the same for overridden field '
                f'"{coordinate}"',
                [here],
                coordinate,
            )
            continue
        from_idx = ctx.names.index(target)
        from_field = sources.get(from_idx)
        if from_idx in with_override:
            ctx.error(
                "OVERRIDE_SOURCE_HAS_OVERRIDE",
                f'Field "{coordinate}" on subgraph "{here}" is also marked with directive '
                f'@override in subgraph "{target}". Only one @override directive is allowed per '
                "field.",
                [here, target],
                coordinate,
            )
            continue
        if from_field is None:
            ctx.hint(
                "OVERRIDE_DIRECTIVE_CAN_BE_REMOVED",
                f'Field "{coordinate}" on subgraph "{here}" no longer exists in the from '
                "subgraph. The @override directive can be removed.",
                coordinate,
            )
            continue
        conflict = None
        if from_field.requires is not None:
            conflict, where = "requires", target
        elif from_field.provides is not None:
            conflict, where = "provides", target
        elif is_external(ctx, idx, parent.name, name):
            conflict, where = "external", here
        if conflict is not None:
            ctx.error(
                "OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE",
                f'@override cannot be used on field "{coordinate}" on subgraph "{here}" since '
                f'"{coordinate}" on "{where}" is marked with directive "@{conflict}"',
                [here, target],
                coordinate,
            )
            continue
        if is_external(ctx, from_idx, parent.name, name):
            ctx.hint(
                "OVERRIDE_DIRECTIVE_CAN_BE_REMOVED",
                f'Field "{coordinate}" on subgraph "{here}" is not resolved anymore by the from '
                f'subgraph (it is marked "@external" in "{target}"). The @override directive can '
                "be removed.",
                coordinate,
            )
        elif coordinate in ctx.subgraphs[from_idx].used:
            state.used_overridden.add(from_idx)
            ctx.hint(
                "OVERRIDDEN_FIELD_CAN_BE_REMOVED",
                f'Field "{coordinate}" on subgraph "{target}" is overridden. It is still used in '
                "some federation directive(s) (@key, @requires, and/or @provides) and/or to "
                "satisfy interface constraint(s), but consider marking it @external explicitly "
                "or removing it along with its references.",
                coordinate,
            )
        else:
            state.unused_overridden.add(from_idx)
            ctx.hint(
                "OVERRIDDEN_FIELD_CAN_BE_REMOVED",
                f'Field "{coordinate}" on subgraph "{target}" is overridden. Consider removing it.',
                coordinate,
            )
    return state
