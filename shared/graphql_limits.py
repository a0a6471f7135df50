"""Depth, alias and cost limits, measured on the parsed document before anything executes.

One implementation for every GraphQL endpoint: the gateway measures what
clients send it, and each subgraph (:mod:`shared.subgraph`) measures what
reaches it, so a subgraph called directly is no easier to overload than the
gateway. Pure: graphql-core's AST in, a shape or a refusal out.

Cost model: every field costs 1; a field's sub-selection is multiplied by how
many items it may return — its ``first``/``last``/``limit`` argument when it
has one, else ``default_list_size`` for list-typed fields, else 1. A list
directly under a non-list field that took a size argument (a connection's
``edges``/``nodes``) is bounded by that argument and multiplies by 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_list_type,
    parse,
)
from graphql.type.definition import GraphQLNamedType, GraphQLOutputType

from shared.errors import ThreadlineError

__all__ = [
    "DocumentLimits",
    "DocumentParseError",
    "GraphQLLimits",
    "IntrospectionDisabledError",
    "LimitExceededError",
    "LimitSettings",
    "OperationRefusedError",
    "OperationShape",
    "select_operation",
]


class OperationRefusedError(ThreadlineError):
    """An operation refused before it executes; carries its HTTP status and GraphQL code."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def graphql_error(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code, **self.extensions}}


class LimitExceededError(OperationRefusedError):
    """The operation is deeper, wider or costlier than this endpoint serves."""

    def __init__(self, message: str, *, code: str, limit: int, measured: int) -> None:
        super().__init__(message, limit=limit, measured=measured)
        self.code = code
        self.limit = limit
        self.measured = measured


class IntrospectionDisabledError(OperationRefusedError):
    code = "INTROSPECTION_DISABLED"


class DocumentParseError(OperationRefusedError):
    """The document does not parse, or has more tokens than this endpoint reads."""

    code = "GRAPHQL_PARSE_FAILED"


class LimitSettings(Protocol):
    """The limits an endpoint is configured with (``GatewaySettings`` has these names)."""

    @property
    def max_depth(self) -> int: ...
    @property
    def max_aliases(self) -> int: ...
    @property
    def max_cost(self) -> int: ...
    @property
    def default_list_size(self) -> int: ...
    @property
    def introspection_enabled(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """Limits as plain values (the subgraphs' are read from ``Settings.graphql_limits``)."""

    max_depth: int = 15
    max_aliases: int = 30
    max_cost: int = 10_000
    default_list_size: int = 10
    max_tokens: int = 10_000
    introspection_enabled: bool = True


SIZE_ARGUMENTS = frozenset({"first", "last", "limit"})
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
MAX_FRAGMENT_NESTING = 64


@dataclass(frozen=True, slots=True)
class OperationShape:
    """What the limits look at in one operation of a document."""

    depth: int
    aliases: int
    cost: int
    introspection: bool
    variable_sized: bool
    """A size argument is a variable, so ``cost`` must be re-measured per request."""
    truncated: bool = False
    """Measuring stopped past the depth limit: ``depth`` is a lower bound."""


@dataclass(slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    defaults: Mapping[str, Any]
    default_list_size: int
    max_depth: int
    aliases: int = 0
    introspection: bool = False
    variable_sized: bool = False
    truncated: bool = False
    spreads: dict[tuple[str, int, bool], tuple[int, int, int]] = dataclasses.field(
        default_factory=dict
    )

    def selection_set(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType | None,
        depth: int,
        bounded: bool,
        seen: frozenset[str],
    ) -> tuple[int, int]:
        """(cost, depth) of a selection set; ``seen`` breaks fragment cycles."""
        cost = 0
        deepest = depth
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                field_cost, field_depth = self.field(selection, parent, depth + 1, bounded, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                field_cost, field_depth = self.selection_set(
                    selection.selection_set, target, depth, bounded, seen
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                field_cost, field_depth = self.spread(fragment, depth, bounded, seen)
            else:  # pragma: no cover - the parser produces no other selections
                continue
            cost += field_cost
            deepest = max(deepest, field_depth)
        return cost, deepest

    def spread(
        self, fragment: FragmentDefinitionNode, depth: int, bounded: bool, seen: frozenset[str]
    ) -> tuple[int, int]:
        """A fragment's (cost, depth), measured once per depth it is spread at.

        Memoized so a "fragment bomb" (each fragment spreading the next one twice)
        costs a walk linear in its size, not exponential.
        """
        name = fragment.name.value
        key = (name, depth, bounded)
        known = self.spreads.get(key)
        if known is not None:
            cost, deepest, aliases = known
            self.aliases += aliases
            return cost, deepest
        if len(seen) >= MAX_FRAGMENT_NESTING:
            raise LimitExceededError(
                f"fragments are spread inside each other more than {MAX_FRAGMENT_NESTING} "
                "levels deep; inline some of them",
                code="FRAGMENT_NESTING_LIMIT_EXCEEDED",
                limit=MAX_FRAGMENT_NESTING,
                measured=len(seen) + 1,
            )
        aliases_before = self.aliases
        target = self.schema.get_type(fragment.type_condition.name.value)
        cost, deepest = self.selection_set(
            fragment.selection_set, target, depth, bounded, seen | {name}
        )
        self.spreads[key] = (cost, deepest, self.aliases - aliases_before)
        return cost, deepest

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        depth: int,
        bounded: bool,
        seen: frozenset[str],
    ) -> tuple[int, int]:
        name = node.name.value
        if node.alias is not None:
            self.aliases += 1
        if name in INTROSPECTION_FIELDS:
            self.introspection = True
        if node.selection_set is None:
            return 1, depth
        if depth > self.max_depth:
            # Already over the limit: stop here rather than recurse through a hostile document.
            self.truncated = True
            return 1, depth + 1
        field_type: GraphQLOutputType | None = None
        fields = getattr(parent, "fields", None)
        if fields is not None and name in fields:
            field_type = fields[name].type
        size = self.size_argument(node)
        if size is not None:
            # A sized list bounds itself; a sized object (a connection) bounds its lists.
            is_list = field_type is not None and _is_list(field_type)
            multiplier, child_bounded = size, not is_list
        elif field_type is not None and _is_list(field_type) and not bounded:
            multiplier, child_bounded = self.default_list_size, False
        else:
            multiplier, child_bounded = 1, False
        child_type = get_named_type(field_type) if field_type is not None else None
        child_cost, child_depth = self.selection_set(
            node.selection_set, child_type, depth, child_bounded, seen
        )
        return 1 + multiplier * child_cost, child_depth

    def size_argument(self, node: FieldNode) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value not in SIZE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 0)
            if isinstance(value, VariableNode):
                self.variable_sized = True
                name = value.name.value
                given = self.variables.get(name, self.defaults.get(name))
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(given, 0)
                return self.default_list_size
        return None


def _is_list(field_type: GraphQLOutputType) -> bool:
    while isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return is_list_type(field_type) or isinstance(field_type, GraphQLList)


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation a request names, or its only one; None when ambiguous or absent."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


class DocumentLimits:
    """Measures operations and refuses those past the configured limits.

    ``where`` and ``introspection_switch`` name the endpoint and the setting that
    enables introspection on it, for the refusal's message.
    """

    def __init__(
        self,
        settings: LimitSettings,
        *,
        where: str = "endpoint",
        introspection_switch: str = "its introspection setting",
    ) -> None:
        self.max_depth = settings.max_depth
        self.max_aliases = settings.max_aliases
        self.max_cost = settings.max_cost
        self.default_list_size = settings.default_list_size
        self.introspection = settings.introspection_enabled
        self.where = where
        self.introspection_switch = introspection_switch

    def measure(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None = None,
    ) -> OperationShape:
        defaults: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            if isinstance(definition.default_value, IntValueNode):
                defaults[definition.variable.name.value] = int(definition.default_value.value)
        walk = _Walk(
            schema=schema,
            fragments={
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            },
            variables=variables or {},
            defaults=defaults,
            default_list_size=self.default_list_size,
            max_depth=self.max_depth,
        )
        root = schema.get_root_type(_operation_type(operation))
        cost, depth = walk.selection_set(operation.selection_set, root, 0, False, frozenset())
        return OperationShape(
            depth=depth,
            aliases=walk.aliases,
            cost=cost,
            introspection=walk.introspection,
            variable_sized=walk.variable_sized,
            truncated=walk.truncated,
        )

    def check(self, shape: OperationShape) -> None:
        """Raise the first limit the operation breaks, naming the limit and what was measured."""
        if shape.introspection and not self.introspection:
            raise IntrospectionDisabledError(
                f"introspection is disabled on this {self.where}: remove __schema/__type from "
                f"the query, or enable it with {self.introspection_switch}=true"
            )
        if shape.depth > self.max_depth:
            raise LimitExceededError(
                f"the operation is nested {'at least ' if shape.truncated else ''}"
                f"{shape.depth} levels deep; the limit is "
                f"{self.max_depth}: flatten the query or split it",
                code="DEPTH_LIMIT_EXCEEDED",
                limit=self.max_depth,
                measured=shape.depth,
            )
        if shape.aliases > self.max_aliases:
            raise LimitExceededError(
                f"the operation uses {shape.aliases} aliases; the limit is {self.max_aliases}: "
                "batch fewer aliased fields per request",
                code="ALIAS_LIMIT_EXCEEDED",
                limit=self.max_aliases,
                measured=shape.aliases,
            )
        if shape.cost > self.max_cost:
            raise LimitExceededError(
                f"the operation's estimated cost is {shape.cost}; the limit is {self.max_cost}: "
                "ask for fewer fields or smaller pages (first/limit)",
                code="COST_LIMIT_EXCEEDED",
                limit=self.max_cost,
                measured=shape.cost,
            )

    def check_request(
        self,
        schema: GraphQLSchema,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        *,
        max_tokens: int,
    ) -> None:
        """Parse a request's document (reading at most ``max_tokens``) and refuse it when its
        operation breaks a limit. An operation the document lacks is left to the executor."""
        try:
            document = parse(query, max_tokens=max_tokens)
        except GraphQLError as exc:
            raise DocumentParseError(exc.message) from None
        operation = select_operation(document, operation_name)
        if operation is not None:
            self.check(self.measure(schema, document, operation, variables))


def _operation_type(operation: OperationDefinitionNode) -> OperationType:
    return operation.operation
