"""The steps every operation goes through before the engine runs it, whatever the transport.

admit (authenticate, rate-limit) → resolve persisted query → measure limits
→ ``Engine.prepare``. HTTP, SSE and WebSocket all drive this one pipeline, so a
limit or an auth rule cannot hold on one transport and be missing on another.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse

from gateway.engine import Engine, GraphQLRequest, PreparedOperation, RequestContext, RequestError
from gateway.http.errors import EngineNotReadyError
from gateway.http.params import Params
from gateway.security import (
    AuthenticationError,
    AuthUnavailableError,
    DocumentLimits,
    OperationShape,
    PersistedQueries,
    RateLimiter,
    SecurityError,
)
from gateway.security.limits import select_operation
from gateway.settings import GatewaySettings
from gateway.telemetry import GatewayMetrics
from shared.auth import Principal, TokenError, TokenVerifier, require_bearer
from shared.errors import AuthError
from shared.telemetry import inject_headers

_SHAPE_CACHE_SIZE = 2048
_SHAPE_CACHEABLE_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class Caller:
    """An admitted caller: who it is and the credentials to forward on its behalf."""

    principal: Principal | None
    client_id: str
    authorization: str | None
    traceparent: str | None = None
    tracestate: str | None = None

    def context(self) -> RequestContext:
        """The engine's context, carrying the current span's ``traceparent`` to subgraphs.

        Built inside the server span so subgraph calls become its children; when
        tracing is off (no span), the caller's own trace headers travel on unchanged.
        """
        headers: dict[str, str] = {}
        if self.authorization:
            headers["authorization"] = self.authorization
        inject_headers(headers)
        if "traceparent" not in headers and self.traceparent:
            headers["traceparent"] = self.traceparent
            if self.tracestate:
                headers["tracestate"] = self.tracestate
        return RequestContext(
            headers=headers,
            scopes=self.principal.scopes if self.principal else frozenset(),
            client_id=self.client_id,
        )


@dataclass(frozen=True, slots=True)
class Operation:
    request: GraphQLRequest
    prepared: PreparedOperation


@dataclass(frozen=True, slots=True)
class _Measured:
    document: DocumentNode
    operation: OperationDefinitionNode
    shape: OperationShape


class EngineHolder:
    """The engine, once the app's lifespan has built it."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.current = engine

    @property
    def engine(self) -> Engine:
        if self.current is None:
            raise EngineNotReadyError()
        return self.current


class Pipeline:
    """Admission and preparation of operations, shared by all transports."""

    def __init__(
        self,
        holder: EngineHolder,
        settings: GatewaySettings,
        verifier: TokenVerifier | None,
        metrics: GatewayMetrics,
    ) -> None:
        self.holder = holder
        self.settings = settings
        self.verifier = verifier
        self.metrics = metrics
        self.rate_limiter = RateLimiter(
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
            max_clients=settings.rate_limit_clients,
        )
        self.persisted = PersistedQueries(settings.apq_cache_size, enabled=settings.apq_enabled)
        self.limits = DocumentLimits(settings)
        self._shapes: OrderedDict[tuple[str, str | None], _Measured] = OrderedDict()

    async def admit(
        self,
        authorization: str | None,
        client_host: str | None,
        forwarded_for: str | None,
        trace_headers: Mapping[str, str] | None = None,
    ) -> Caller:
        """Authenticate and spend a rate-limit token; raises a SecurityError when refused.

        Refused credentials spend a token of the caller's IP, so guessing tokens is
        rate-limited too (429 once the bucket is empty).
        """
        try:
            principal = await self._authenticate(authorization)
        except SecurityError:
            self.rate_limiter.take(self._ip_client(client_host, forwarded_for))
            raise
        if principal is not None and principal.subject:
            client_id = f"sub:{principal.subject}"
        else:
            client_id = self._ip_client(client_host, forwarded_for)
        self.rate_limiter.take(client_id)
        if trace_headers is None:
            return Caller(principal, client_id, authorization)
        return Caller(
            principal,
            client_id,
            authorization,
            trace_headers.get("traceparent"),
            trace_headers.get("tracestate"),
        )

    async def _authenticate(self, authorization: str | None) -> Principal | None:
        """The header's principal (``shared.auth``'s verifier); None when anonymous is allowed."""
        if not authorization and not self.settings.auth_required:
            return None
        if self.verifier is None:
            raise AuthenticationError(
                "this gateway cannot verify bearer tokens: set THREADLINE_JWT_SECRET (HS256) "
                "or THREADLINE_JWKS_URL (RS256/ES256), or send no Authorization header"
            )
        try:
            return await self.verifier.verify(require_bearer(authorization))
        except TokenError as exc:
            raise AuthenticationError(str(exc), error=exc.error) from exc
        except AuthError as exc:
            raise AuthUnavailableError(str(exc)) from exc

    def _ip_client(self, client_host: str | None, forwarded_for: str | None) -> str:
        host = client_host or "unknown"
        if self.settings.trust_forwarded_for and forwarded_for:
            host = forwarded_for.split(",", 1)[0].strip() or host
        return f"ip:{host}"

    def prepare(self, params: Params) -> Operation:
        """Resolve, measure and validate; raises SecurityError, HttpError or RequestError."""
        engine = self.holder.engine
        resolved = self.persisted.resolve(params.query, params.extensions)
        if resolved is None:  # pragma: no cover - Params guarantees a query or a hash
            raise RequestError([{"message": "the request has no 'query'"}])
        request = GraphQLRequest(
            query=resolved.query,
            variables=params.variables,
            operation_name=params.operation_name,
            extensions=params.extensions,
        )
        self._check_limits(engine, request)
        prepared = engine.prepare(request)
        if resolved.register is not None:
            self.persisted.register(resolved.register, resolved.query)
        return Operation(request, prepared)

    def _check_limits(self, engine: Engine, request: GraphQLRequest) -> None:
        key = (request.query, request.operation_name)
        measured = self._shapes.get(key)
        if measured is None:
            measured = self._measure(engine, request)
            if measured is None:
                return  # ambiguous or unknown operation: the engine reports it precisely
            if len(request.query) <= _SHAPE_CACHEABLE_CHARS:
                self._shapes[key] = measured
                if len(self._shapes) > _SHAPE_CACHE_SIZE:
                    self._shapes.popitem(last=False)
            shape = measured.shape
        elif measured.shape.variable_sized:
            shape = self.limits.measure(
                engine.api_schema, measured.document, measured.operation, request.variables
            )
        else:
            shape = measured.shape
        self.limits.check(shape)

    def _measure(self, engine: Engine, request: GraphQLRequest) -> _Measured | None:
        # Parsed here, bounded by max_tokens, so a hostile document is refused before the
        # engine's validator walks it; the engine parses again only on its own cache miss.
        try:
            document = parse(request.query, max_tokens=self.settings.max_tokens)
        except GraphQLError as exc:
            raise RequestError([dict(exc.formatted)]) from exc
        operation = select_operation(document, request.operation_name)
        if operation is None:
            return None
        shape = self.limits.measure(engine.api_schema, document, operation, request.variables)
        return _Measured(document, operation, shape)
