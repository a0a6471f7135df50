"""A FakeEngine for testing the gateway's HTTP layer: graphql-core over a local schema.

It implements ``gateway.engine.Engine`` the way the federation engine must
behave at the boundary: parse/validation failures raise ``RequestError`` from
``prepare``; variable coercion failures come back from ``execute`` without a
``data`` entry; field errors come back with ``data``. It records what reached
it so tests can prove a refused request never did.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute,
    get_operation_ast,
    parse,
    subscribe,
    validate,
)
from graphql.execution.values import get_variable_values

from gateway.engine import GraphQLRequest, PreparedOperation, RequestContext, RequestError

SDL = """
type Query {
  hello(name: String): String
  whoami: Whoami!
  customer(id: ID!): Customer
  customers(first: Int, limit: Int): [Customer!]!
  boom: String
}
type Whoami { scopes: [String!]!, clientId: String, authorization: String, traceparent: String }
type Customer {
  id: ID!
  name: String
  friends(first: Int): [Customer!]!
  orders: [Order!]!
  timeline(first: Int): TouchpointConnection!
}
type TouchpointConnection { edges: [TouchpointEdge!]! }
type TouchpointEdge { node: Order! }
type Order { id: ID!, total: Float }
type Mutation { rename(id: ID!, name: String!): Customer }
type Subscription { ticks(count: Int!, delay: Float): Int!, failing: Int! }
"""


def _customer(identifier: str) -> dict[str, Any]:
    return {
        "id": identifier,
        "name": f"customer {identifier}",
        "friends": [],
        "orders": [{"id": "o1", "total": 12.5}],
        "timeline": {"edges": [{"node": {"id": "o1", "total": 12.5}}]},
    }


def _build_schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    query = schema.query_type
    mutation = schema.mutation_type
    subscription = schema.subscription_type
    assert query is not None
    assert mutation is not None
    assert subscription is not None

    def hello(_: object, __: GraphQLResolveInfo[Any], name: str | None = None) -> str:
        return f"hello {name or 'world'}"

    def whoami(_: object, info: GraphQLResolveInfo[Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        return {
            "scopes": sorted(context.scopes),
            "clientId": context.client_id,
            "authorization": context.headers.get("authorization"),
            "traceparent": context.headers.get("traceparent"),
        }

    def customers(_: object, __: GraphQLResolveInfo[Any], **arguments: Any) -> list[dict[str, Any]]:
        count = arguments.get("first") or arguments.get("limit") or 2
        return [_customer(str(index)) for index in range(count)]

    def boom(_: object, __: GraphQLResolveInfo[Any]) -> str:
        raise ValueError("boom failed")

    query.fields["hello"].resolve = hello
    query.fields["whoami"].resolve = whoami
    query.fields["customer"].resolve = lambda _, __, id: _customer(id)
    query.fields["customers"].resolve = customers
    query.fields["boom"].resolve = boom
    mutation.fields["rename"].resolve = lambda _, __, id, name: {**_customer(id), "name": name}

    async def ticks(
        _: object, __: GraphQLResolveInfo[Any], count: int, delay: float | None = None
    ) -> AsyncIterator[dict[str, int]]:
        for index in range(count):
            if delay:
                await asyncio.sleep(delay)
            yield {"ticks": index}

    async def failing(_: object, __: GraphQLResolveInfo[Any]) -> AsyncIterator[dict[str, int]]:
        yield {"failing": 1}
        raise RuntimeError("the event source broke")

    subscription.fields["ticks"].subscribe = ticks
    subscription.fields["ticks"].resolve = lambda event, _info, **_: event["ticks"]
    subscription.fields["failing"].subscribe = failing
    subscription.fields["failing"].resolve = lambda event, _info: event["failing"]
    return schema


@dataclass
class FakeEngine:
    """An ``Engine`` over a local graphql-core schema that records what reached it."""

    schema: GraphQLSchema = field(default_factory=_build_schema)
    prepared: list[GraphQLRequest] = field(default_factory=list)
    executed: list[tuple[GraphQLRequest, RequestContext]] = field(default_factory=list)
    subscribed: list[tuple[GraphQLRequest, RequestContext]] = field(default_factory=list)
    closed_streams: int = 0
    is_ready: bool = True

    @property
    def api_schema(self) -> GraphQLSchema:
        return self.schema

    def prepare(self, request: GraphQLRequest) -> PreparedOperation:
        self.prepared.append(request)
        try:
            document = parse(request.query)
        except GraphQLError as exc:
            raise RequestError([dict(exc.formatted)]) from exc
        errors = validate(self.schema, document)
        if errors:
            raise RequestError([dict(error.formatted) for error in errors])
        operation = get_operation_ast(document, request.operation_name)
        if operation is None:
            raise RequestError([{"message": "Unknown or ambiguous operation name."}])
        name = operation.name.value if operation.name else None
        return PreparedOperation(document, name, operation.operation)

    async def execute(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> dict[str, Any]:
        self.executed.append((request, context))
        definition = get_operation_ast(operation.document, operation.operation_name)
        assert isinstance(definition, OperationDefinitionNode)
        coerced = get_variable_values(
            self.schema, definition.variable_definitions or (), dict(request.variables or {})
        )
        if isinstance(coerced, list):  # variable coercion failed: nothing executed, no data
            return {"errors": [dict(error.formatted) for error in coerced]}
        result = execute(
            self.schema,
            operation.document,
            context_value=context,
            variable_values=dict(request.variables) if request.variables else None,
            operation_name=operation.operation_name,
        )
        if inspect.isawaitable(result):
            result = await result
        return dict(result.formatted)

    async def subscribe(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> AsyncIterator[dict[str, Any]]:
        self.subscribed.append((request, context))
        definition = get_operation_ast(operation.document, operation.operation_name)
        assert isinstance(definition, OperationDefinitionNode)
        coerced = get_variable_values(
            self.schema, definition.variable_definitions or (), dict(request.variables or {})
        )
        if isinstance(coerced, list):  # like the federation engine: raised on first iteration
            raise RequestError([dict(error.formatted) for error in coerced])
        stream: Any = subscribe(
            self.schema,
            operation.document,
            context_value=context,
            variable_values=dict(request.variables) if request.variables else None,
            operation_name=operation.operation_name,
        )
        if inspect.isawaitable(stream):
            stream = await stream
        if not hasattr(stream, "__aiter__"):
            yield dict(stream.formatted)
            return
        try:
            async for result in stream:
                yield dict(result.formatted)
        finally:
            self.closed_streams += 1
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()

    async def ready(self) -> bool:
        return self.is_ready


SECRET = "test-secret-that-is-long-enough-for-hs256!"


def settings(**overrides: Any) -> Any:
    """Gateway settings for tests: HS256 with :data:`SECRET`, generous limits unless given."""
    from gateway.settings import GatewaySettings

    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "jwks_url": None,
        "jwt_issuer": "threadline",
        "jwt_audience": None,
        "environment": "development",
        "rate_limit_per_second": 0.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def token(
    scope: str = "customers:read",
    *,
    subject: str = "user-1",
    lifetime: float = 600.0,
    secret: str = SECRET,
    **claims: Any,
) -> str:
    import time

    import jwt

    now = time.time()
    payload: dict[str, Any] = {
        "sub": subject,
        "scope": scope,
        "iss": "threadline",
        "iat": int(now),
        "exp": int(now + lifetime),
    }
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(scope: str = "customers:read", **kwargs: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {token(scope, **kwargs)}"}
