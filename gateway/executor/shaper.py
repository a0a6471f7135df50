"""Turns the merged subgraph data into the client's response, as GraphQL execution would.

A tree walk over the client's selections (not graphql-core's ``execute``): it
keeps only requested fields in request order, resolves type conditions from
``__typename`` and applies the spec's null propagation — a null in a non-null
position nulls the nearest nullable ancestor, with one error at that field unless
a subgraph already reported one there or below.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    SelectionSetNode,
    is_leaf_type,
)

from gateway.planner.plan import QueryPlan

_INTROSPECTION = frozenset({"__schema", "__type"})
_LinkedPath = tuple[Any, str | int] | None
_Entry = tuple[str, str, GraphQLOutputType | None, tuple[SelectionSetNode, ...]]


class _Bubble(Exception):
    """A null reached a non-null position: null the nearest nullable parent."""


def _as_list(path: _LinkedPath) -> list[str | int]:
    out: list[str | int] = []
    while path is not None:
        path, key = path
        out.append(key)
    out.reverse()
    return out


class ResponseShaper:
    """Shapes one response; create one per execution (it accumulates errors)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        plan: QueryPlan,
        errors: list[dict[str, Any]],
        introspection: dict[str, Any] | None = None,
        failed: list[list[str | int]] | None = None,
    ) -> None:
        self.schema = schema
        self.failed = failed or []
        self.plan = plan
        self.errors = errors
        self.introspection = introspection or {}
        self._error_paths: list[list[str | int]] | None = None

    def shape(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        root = self.schema.get_root_type(self.plan.operation_type)
        if root is None or data is None:
            return None
        try:
            return self._object(data, root, self.plan.root_sets, None)
        except _Bubble:
            return None

    # -- selections ------------------------------------------------------------------------

    def _entries(
        self, parent: Any, runtime: str, sets: tuple[SelectionSetNode, ...]
    ) -> list[_Entry]:
        # Child selection tuples live in the cached entries (and the root one on the plan),
        # so their ids are stable for the plan's lifetime.
        key = (id(sets), runtime)
        cached: list[_Entry] | None = self.plan.shape_cache.get(key)
        if cached is not None:
            return cached
        runtime_type = self.schema.type_map.get(runtime, parent)
        fields = getattr(runtime_type, "fields", {})
        entries: list[_Entry] = []
        for response_key, nodes in self.plan.collector.collect(sets, runtime).items():
            name = nodes[0].name.value
            field = fields.get(name)
            child = tuple(n.selection_set for n in nodes if n.selection_set is not None)
            entries.append((response_key, name, field.type if field is not None else None, child))
        self.plan.shape_cache[key] = entries
        return entries

    def _object(
        self,
        obj: dict[str, Any],
        gtype: Any,
        sets: tuple[SelectionSetNode, ...],
        path: _LinkedPath,
    ) -> dict[str, Any]:
        if isinstance(gtype, GraphQLObjectType):
            runtime = gtype.name
        else:
            typename = obj.get("__typename")
            runtime = typename if isinstance(typename, str) else gtype.name
            if runtime not in self.schema.type_map:
                # e.g. an @inaccessible implementation: only the abstract type's own fields apply
                runtime = gtype.name
        out: dict[str, Any] = {}
        for response_key, name, ftype, child in self._entries(gtype, runtime, sets):
            if name == "__typename":
                out[response_key] = runtime
            elif ftype is None:
                if name in _INTROSPECTION:
                    out[response_key] = self.introspection.get(response_key)
            else:
                out[response_key] = self._value(
                    obj.get(response_key), ftype, child, (path, response_key), runtime, name
                )
        return out

    def _value(
        self,
        value: Any,
        gtype: GraphQLOutputType,
        sets: tuple[SelectionSetNode, ...],
        path: _LinkedPath,
        parent: str,
        name: str,
    ) -> Any:
        if isinstance(gtype, GraphQLNonNull):
            if value is None:
                self._null_error(
                    path, f"Cannot return null for non-nullable field {parent}.{name}."
                )
                raise _Bubble
            result = self._inner(value, gtype.of_type, sets, path, parent, name)
            if result is None:
                raise _Bubble
            return result
        if value is None:
            return None
        try:
            return self._inner(value, gtype, sets, path, parent, name)
        except _Bubble:
            return None

    def _inner(
        self,
        value: Any,
        gtype: Any,
        sets: tuple[SelectionSetNode, ...],
        path: _LinkedPath,
        parent: str,
        name: str,
    ) -> Any:
        if isinstance(gtype, GraphQLList):
            if not isinstance(value, list):
                self._error(path, f"Expected a list for field {parent}.{name}.")
                return None
            item = gtype.of_type
            return [
                self._value(v, item, sets, (path, index), parent, name)
                for index, v in enumerate(value)
            ]
        if is_leaf_type(gtype):
            if isinstance(gtype, GraphQLEnumType) and value not in gtype.values:
                self._error(path, f"Enum '{gtype.name}' cannot represent value: {value!r}")
                return None
            return value
        if not isinstance(value, dict):
            self._error(path, f"Expected an object for field {parent}.{name}.")
            return None
        return self._object(value, gtype, sets, path)

    # -- errors ----------------------------------------------------------------------------

    def _error(self, path: _LinkedPath, message: str) -> None:
        as_list = _as_list(path)
        self.errors.append({"message": message, "path": as_list})
        if self._error_paths is not None:
            self._error_paths.append(as_list)

    def _null_error(self, path: _LinkedPath, message: str) -> None:
        if self._error_paths is None:
            self._error_paths = [e["path"] for e in self.errors if isinstance(e.get("path"), list)]
            self._error_paths.extend(self.failed)
        as_list = _as_list(path)
        size = len(as_list)
        # An error at this field, below it (the cause) or at an ancestor (e.g. a failed
        # entity) already explains the null.
        if any(p[:size] == as_list or (p and as_list[: len(p)] == p) for p in self._error_paths):
            return
        self._error(path, message)
