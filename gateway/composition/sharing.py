"""@shareable: a field resolved by several subgraphs must be shareable in all of them."""

from __future__ import annotations

from gateway.composition.errors import human_list
from gateway.composition.merge import MergeContext, Sources
from gateway.composition.merge_fields import abstracted_fields
from gateway.composition.model import Field
from gateway.composition.override import OverrideState
from gateway.composition.supergraph_model import SuperField, SuperType


def validate_field_sharing(
    ctx: MergeContext,
    sources: Sources[Field],
    parent: SuperType,
    dest: SuperField,
    state: OverrideState,
) -> None:
    coordinate = f"{parent.name}.{dest.name}"
    shareable: list[tuple[int, str]] = []
    non_shareable: list[tuple[int, str]] = []
    resolving: list[str] = []

    def categorize(idx: int, label: str, type_name: str, field_name: str) -> None:
        subgraph = ctx.subgraphs[idx]
        at = f"{type_name}.{field_name}"
        if at in subgraph.external and at not in subgraph.provided:
            return
        resolving.append(label)
        (shareable if at in subgraph.shareable else non_shareable).append((idx, label))

    for idx, source in sources.items():
        if source is None:
            for itf, _ in abstracted_fields(ctx, parent, dest.name, idx):
                label = f'"{ctx.names[idx]}" (through @interfaceObject field "{itf}.{dest.name}")'
                categorize(idx, label, itf, dest.name)
            continue
        if state.overridden(idx):
            continue
        categorize(idx, f'"{ctx.names[idx]}"', parent.name, dest.name)
    if non_shareable and (shareable or len(non_shareable) > 1):
        culprits = (
            human_list([n for _, n in non_shareable], quote=False) if shareable else "all of them"
        )
        extra = ""
        unknown = [n for i, n in non_shareable if i in state.unknown_target]
        if unknown:
            extra = (
                f' (please note that "{coordinate}" has an @override directive in {unknown[0]} '
                "that targets an unknown subgraph so this could be due to misspelling the "
                "@override(from:) argument)"
            )
        ctx.error(
            "INVALID_FIELD_SHARING",
            f'Non-shareable field "{coordinate}" is resolved from multiple subgraphs: it is '
            f"resolved from {human_list(resolving, quote=False)} and defined as non-shareable in "
            f"{culprits}{extra}",
            sorted({ctx.names[i] for i, _ in non_shareable + shareable}),
            coordinate,
        )


def validate_subscription_field(
    ctx: MergeContext, sources: Sources[Field], parent: SuperType, dest: SuperField
) -> None:
    for idx, source in sources.items():
        if source is not None and f"{parent.name}.{dest.name}" in ctx.subgraphs[idx].shareable:
            ctx.error(
                "INVALID_FIELD_SHARING",
                "Fields on root level subscription object cannot be marked as shareable",
                [ctx.names[idx]],
                f"{parent.name}.{dest.name}",
            )
