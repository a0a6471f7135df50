"""The contract between the gateway's HTTP layer and its federation engine.

The HTTP layer (``gateway.http``) parses transport concerns — methods, media
types, auth, limits — and hands a :class:`GraphQLRequest` to an :class:`Engine`.
The engine (``gateway.planner`` + ``gateway.executor`` over a
``gateway.supergraph.Supergraph``) validates it against the API schema, plans
it across subgraphs and executes the plan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import DocumentNode, GraphQLSchema, OperationType


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None
    extensions: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What travels with one operation: credentials to forward and limits to honour."""

    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers forwarded to subgraphs (``authorization``, ``traceparent``…)."""
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedOperation:
    """A parsed, validated operation, ready to plan and run."""

    document: DocumentNode
    operation_name: str | None
    operation_type: OperationType


@dataclass(slots=True)
class RequestError(Exception):
    """The request could not be parsed or validated: nothing was executed.

    ``errors`` are GraphQL error dicts (``message``, ``locations``…). Per the
    GraphQL-over-HTTP spec this maps to 400 with application/graphql-response+json.
    """

    errors: list[dict[str, Any]]


class Engine(Protocol):
    """A federation engine bound to one supergraph."""

    @property
    def api_schema(self) -> GraphQLSchema:
        """The public schema: the supergraph minus @inaccessible and join metadata."""

    def prepare(self, request: GraphQLRequest) -> PreparedOperation:
        """Parse and validate; raises :class:`RequestError`. Cached by query text."""

    async def execute(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> dict[str, Any]:
        """Run a query or mutation; returns ``{"data": …, "errors": […]}`` per the spec."""

    def subscribe(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> AsyncIterator[dict[str, Any]]:
        """Run a subscription: one response dict per event, entity fields resolved by plan."""
