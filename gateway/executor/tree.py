"""The merged response tree: finding objects at a plan path, merging results, representations."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from graphql import FieldNode, GraphQLSchema, InlineFragmentNode, SelectionSetNode, is_abstract_type

from gateway.planner.plan import RepresentationSpec
from gateway.planner.selections import (
    INTERNAL_PREFIX,
    OWN_TYPE_PREFIX,
    internal_alias,
    strip_own_type,
)

Path = tuple[str | int, ...]


def objects_at(
    value: Any,
    path: tuple[str, ...],
    depth: int,
    here: Path,
    out: list[tuple[dict[str, Any], Path]],
) -> None:
    """Every object reached by ``path`` from ``value``, lists flattened, with its response path."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            objects_at(item, path, depth, (*here, index), out)
        return
    if not isinstance(value, dict):
        return
    if depth == len(path):
        out.append((value, here))
        return
    key = path[depth]
    objects_at(value.get(key), path, depth + 1, (*here, key), out)


def merge(target: dict[str, Any], source: dict[str, Any], abstract_names: Collection[str]) -> None:
    """Deep-merge a subgraph result into the tree (same entity, more fields)."""
    for key, value in source.items():
        current = target.get(key)
        if current is None:
            target[key] = value
        elif key == "__typename":
            # An @interfaceObject subgraph answers with the interface name; keep the
            # concrete type once any subgraph has told us.
            if current in abstract_names:
                target[key] = value
        elif isinstance(current, dict) and isinstance(value, dict):
            merge(current, value, abstract_names)
        elif isinstance(current, list) and isinstance(value, list):
            for mine, theirs in zip(current, value, strict=False):
                if isinstance(mine, dict) and isinstance(theirs, dict):
                    merge(mine, theirs, abstract_names)
        else:
            target[key] = value


class _Missing(Exception):
    """A key field is absent: this object cannot be sent as a representation."""


def representation(
    obj: dict[str, Any], spec: RepresentationSpec, schema: GraphQLSchema
) -> dict[str, Any] | None:
    rep: dict[str, Any] = {"__typename": spec.typename}
    try:
        for selection in spec.selections:
            _extract(obj, selection, rep, schema)
    except _Missing:
        return None
    return rep


def _extract(
    obj: dict[str, Any], selection: SelectionSetNode, out: dict[str, Any], schema: GraphQLSchema
) -> None:
    for node in selection.selections:
        if isinstance(node, FieldNode):
            name = node.name.value
            key = internal_alias(node)
            if key not in obj:
                raise _Missing(name)
            value = obj[key]
            if node.selection_set is None or value is None:
                out[name] = value
            else:
                out[name] = _extract_value(value, node.selection_set, out.get(name), schema)
        elif isinstance(node, InlineFragmentNode):
            cond = node.type_condition.name.value if node.type_condition else None
            if cond is None or _applies(schema, cond, obj.get("__typename")):
                _extract(obj, node.selection_set, out, schema)


def _extract_value(
    value: Any, selection: SelectionSetNode, existing: Any, schema: GraphQLSchema
) -> Any:
    if isinstance(value, list):
        return [_extract_value(v, selection, None, schema) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = existing if isinstance(existing, dict) else {}
    _extract(value, selection, out, schema)
    return out


def _applies(schema: GraphQLSchema, condition: str, typename: Any) -> bool:
    if typename == condition:
        return True
    cond_type = schema.type_map.get(condition)
    runtime = schema.type_map.get(typename) if isinstance(typename, str) else None
    if cond_type is None or runtime is None or not is_abstract_type(cond_type):
        return False
    return schema.is_sub_type(cond_type, runtime)


def client_path(path: list[Any]) -> list[str | int]:
    """A subgraph error path cut before the first planner-internal field."""
    out: list[str | int] = []
    for part in path:
        if isinstance(part, str) and part.startswith("__"):
            if part.startswith(INTERNAL_PREFIX):
                break
            if part.startswith(OWN_TYPE_PREFIX):
                part = strip_own_type(part)
        out.append(part)
    return out


def strip_own_type_aliases(value: Any) -> Any:
    """A subgraph result with the planner's own-type aliases renamed to client keys."""
    if isinstance(value, list):
        return [strip_own_type_aliases(v) for v in value]
    if isinstance(value, dict):
        return {strip_own_type(k): strip_own_type_aliases(v) for k, v in value.items()}
    return value
