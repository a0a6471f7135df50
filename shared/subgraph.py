"""What every service's GraphQL subgraph shares: the bearer-token gate and scope checks.

A request without a valid token never reaches strawberry: it is answered
``401`` with a GraphQL error whose ``extensions.code`` is ``UNAUTHENTICATED``.
A valid token without the needed scope reaches the resolvers, which raise
:func:`forbidden` errors (``extensions.code = FORBIDDEN``) for the fields they
refuse, so a partial answer stays possible.

Every operation is measured against the same depth, alias, cost, token and
introspection limits as the gateway's (:mod:`shared.graphql_limits`) before it
executes, and refused with ``400`` past one: calling a subgraph directly,
bypassing the gateway, buys no larger queries, and each token subject is held to
a request rate (``429`` with ``Retry-After`` past it). Errors leave through
:func:`shared.graphql_errors.public_error`: an outage is reported by what
failed (``STORAGE_UNAVAILABLE``…), never by where.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.federation import Schema
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult

from shared.auth import MissingScopeError, Principal, TokenError, TokenVerifier, require_bearer
from shared.errors import AuthError
from shared.graphql_errors import public_error
from shared.graphql_limits import DocumentLimits, GraphQLLimits, OperationRefusedError
from shared.ratelimit import RateLimitedError, RateLimiter

ContextT = TypeVar("ContextT")
PRINCIPAL_KEY = "threadline.principal"

ContextFactory = Callable[[Request, Principal], Awaitable[ContextT]]


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def require_scope(principal: Principal, scope: str) -> None:
    """Raise a ``FORBIDDEN`` GraphQL error unless the caller holds ``scope``.

    The check and its message are :func:`shared.auth.require_scope`'s.
    """
    try:
        principal.require(scope)
    except MissingScopeError as exc:
        raise forbidden(str(exc)) from None


def _unauthenticated(message: str, status: int = 401, error: str = "invalid_token") -> Response:
    code = {401: "UNAUTHENTICATED", 503: "AUTH_UNAVAILABLE"}.get(status, "INTERNAL_SERVER_ERROR")
    challenge = f'Bearer realm="threadline", error="{error}"'
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"WWW-Authenticate": challenge} if status == 401 else None,
    )


def _rate_limited(exc: RateLimitedError) -> Response:
    return JSONResponse(
        {"errors": [exc.graphql_error()]},
        status_code=exc.status,
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
    )


class AuthenticatedGraphQL(GraphQL[ContextT, None], Generic[ContextT]):
    """strawberry's ASGI app behind the bearer-token gate.

    ``verifier`` may be ``None`` when the process has no token verification
    configured; every request is then refused with a message saying how to fix it.
    ``context`` builds the typed per-request context from the request (whose
    ``state`` carries the lifespan's clients) and the verified principal.
    ``limits`` bound what one operation may ask for (``Settings.graphql_limits``);
    ``rate_limiter`` bounds how often one token subject may ask.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        verifier: TokenVerifier | None,
        context: ContextFactory[ContextT],
        limits: GraphQLLimits = GraphQLLimits(),
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide=None)
        self._verifier = verifier
        self._context = context
        self._limits = DocumentLimits(
            limits, where="subgraph", introspection_switch="THREADLINE_GRAPHQL_INTROSPECTION"
        )
        self._max_tokens = limits.max_tokens
        self._rate = rate_limiter
        self._measured_schema = schema._schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Subgraphs serve queries only; subscriptions go through the gateway.
            await send({"type": "websocket.close", "code": 4403})
            return
        request = Request(scope)
        if self._verifier is None:
            await _unauthenticated(
                "no token verification configured: set THREADLINE_JWT_SECRET or "
                "THREADLINE_JWKS_URL",
                status=500,
            )(scope, receive, send)
            return
        try:
            token = require_bearer(request.headers.get("authorization"))
            principal = await self._verifier.verify(token)
        except AuthError as exc:
            error = exc.error if isinstance(exc, TokenError) else "invalid_token"
            await _unauthenticated(str(exc), status=exc.status, error=error)(scope, receive, send)
            return
        if self._rate is not None:
            try:
                self._rate.take(principal.subject)
            except RateLimitedError as exc:
                await _rate_limited(exc)(scope, receive, send)
                return
        scope[PRINCIPAL_KEY] = principal
        await super().__call__(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> ContextT:
        principal = request.scope[PRINCIPAL_KEY]
        return await self._context(request, principal)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: ContextT,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """Measure every operation of the request before any of them executes."""
        try:
            for data in request_data if isinstance(request_data, list) else [request_data]:
                if data.query is not None:
                    self._limits.check_request(
                        self._measured_schema,
                        data.query,
                        data.operation_name,
                        data.variables,
                        max_tokens=self._max_tokens,
                    )
        except OperationRefusedError as refused:
            sub_response.status_code = refused.status
            error = GraphQLError(refused.message, extensions=refused.graphql_error()["extensions"])
            return ExecutionResult(data=None, errors=[error])
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = [public_error(error) for error in result.errors]
        return await super().process_result(request, result)


def token_verifier(
    secret: str | None, jwks_url: str | None, issuer: str | None, audience: str | None
) -> TokenVerifier | None:
    """The process's verifier, or ``None`` when neither a secret nor a JWKS URL is set."""
    if not secret and not jwks_url:
        return None
    return TokenVerifier(secret=secret, jwks_url=jwks_url, issuer=issuer, audience=audience)
