"""The federation engine: validate, plan (cached), execute over subgraphs.

Implements :class:`gateway.engine.Engine` for one supergraph.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import httpx
from graphql import (
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from opentelemetry.trace import Span, Tracer

from gateway.engine import GraphQLRequest, PreparedOperation, RequestContext, RequestError
from gateway.executor import EngineStats, ExecutionState, PlanExecutor
from gateway.executor.executor import MetricsSink
from gateway.executor.subscriptions import SubscriptionError, subgraph_events
from gateway.executor.tree import client_path, merge, strip_own_type_aliases
from gateway.fetcher import SubgraphFetcher, forwardable
from gateway.planner import PlanningError, QueryPlan, QueryPlanner
from gateway.planner.collect import condition_variables
from gateway.supergraph import Supergraph

__all__ = ["EngineStats", "FederationEngine"]


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def lookup(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def store(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


def _planning_failed(exc: PlanningError) -> dict[str, Any]:
    return {
        "errors": [{"message": str(exc), "extensions": {"code": "QUERY_PLANNING_FAILED"}}],
        "data": None,
    }


def _error_dicts(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    return [e.formatted for e in errors]  # type: ignore[misc]


class FederationEngine:
    """A federation engine bound to one supergraph.

    ``subgraph_urls`` overrides the URLs in ``join__graph(url:)`` by subgraph
    name. Pass ``client`` to share (or, in tests, mount) an ``httpx.AsyncClient``;
    otherwise the engine opens its own keep-alive pool — close it with
    :meth:`aclose`. ``tracer`` (OpenTelemetry) gets ``graphql.operation``,
    ``graphql.plan_node`` and ``graphql.fetch`` spans.
    """

    def __init__(
        self,
        supergraph_sdl: str,
        subgraph_urls: Mapping[str, str] | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        tracer: Tracer | None = None,
        plan_cache_size: int = 2048,
        document_cache_size: int = 2048,
        subgraph_timeout: float = 30.0,
        max_connections: int = 512,
        override_random: random.Random | None = None,
    ) -> None:
        self.supergraph = Supergraph(supergraph_sdl, dict(subgraph_urls or {}))
        # Progressive @override(label: "percent(N)"): each label is rolled once per
        # request (so all its fields move together); pass a seeded Random to replay.
        self._override_random = override_random or random.Random()
        self._percent_labels = tuple(
            sorted({(o.label, o.percent) for o in self.supergraph.progressive if o.percent})
        )
        self.stats = EngineStats()
        self.tracer = tracer
        self.planner = QueryPlanner(self.supergraph)
        self.fetcher = SubgraphFetcher(
            client, timeout=subgraph_timeout, max_connections=max_connections
        )
        self.executor = PlanExecutor(self.supergraph, self.fetcher, self.stats, tracer)
        self._documents = _LRU(document_cache_size)
        self._plans = _LRU(plan_cache_size)
        self._conditions: dict[tuple[str, str | None], tuple[str, ...]] = {}

    @property
    def api_schema(self) -> GraphQLSchema:
        return self.supergraph.api_schema

    def bind_metrics(self, metrics: MetricsSink) -> None:
        """Push fetch latency, subgraph errors and plan-cache lookups into ``metrics``."""
        self.executor.metrics = metrics

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    # -- prepare ---------------------------------------------------------------------------

    def prepare(self, request: GraphQLRequest) -> PreparedOperation:
        cached = self._documents.lookup(request.query)
        if cached is None:
            try:
                document = parse(request.query)
            except GraphQLError as exc:
                raise RequestError(_error_dicts([exc])) from exc
            errors = validate(self.api_schema, document)
            if errors:
                raise RequestError(_error_dicts(errors))
            cached = document
            self._documents.store(request.query, document)
        document = cached
        operation = get_operation_ast(document, request.operation_name)
        if operation is None:
            message = (
                f"Unknown operation named '{request.operation_name}'."
                if request.operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            raise RequestError([{"message": message}])
        # Clients such as curl send a named operation without ``operationName``: the
        # document's own name is the operation's name for spans, logs and metrics.
        name = operation.name.value if operation.name else request.operation_name
        return PreparedOperation(document, name, operation.operation)

    # -- planning --------------------------------------------------------------------------

    def _operation(self, prepared: PreparedOperation) -> OperationDefinitionNode:
        operation = get_operation_ast(prepared.document, prepared.operation_name)
        if operation is None:
            raise RequestError([{"message": "The operation to execute was not found."}])
        return operation

    def coerce_variables(
        self, operation: OperationDefinitionNode, request: GraphQLRequest
    ) -> dict[str, Any]:
        """Client variables coerced against the API schema, defaults applied.

        Raises :class:`RequestError` when they do not coerce.
        """
        coerced = get_variable_values(
            self.api_schema, operation.variable_definitions or (), dict(request.variables or {})
        )
        if isinstance(coerced, list):
            raise RequestError(_error_dicts(coerced))
        # graphql-core 3.3 wraps the values (with their sources); 3.2 returns the dict.
        values: Any = getattr(coerced, "coerced", coerced)
        return dict(values)

    def plan(
        self, prepared: PreparedOperation, request: GraphQLRequest, variables: Mapping[str, Any]
    ) -> QueryPlan:
        """The (cached) plan for this document, operation and @skip/@include values."""
        operation = self._operation(prepared)
        doc_key = (request.query, prepared.operation_name)
        names = self._conditions.get(doc_key)
        if names is None:
            fragments = {
                d.name.value: d
                for d in prepared.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            names = condition_variables(operation.selection_set, fragments)
            self._conditions[doc_key] = names
        labels = self._active_labels() if self._percent_labels else frozenset()
        key = (
            request.query,
            prepared.operation_name,
            tuple(bool(variables.get(n)) for n in names),
            labels,
        )
        plan: QueryPlan | None = self._plans.lookup(key)
        if plan is not None:
            self.stats.plan_cache_hits += 1
            if self.executor.metrics is not None:
                self.executor.metrics.plan_cache_lookup(True)
            return plan
        self.stats.plan_cache_misses += 1
        if self.executor.metrics is not None:
            self.executor.metrics.plan_cache_lookup(False)
        plan = self.planner.plan(prepared.document, operation, variables, labels)
        self._plans.store(key, plan)
        if len(self._conditions) > 4 * self._plans.size:
            self._conditions.clear()
        return plan

    def _active_labels(self) -> frozenset[str]:
        """This request's progressive-override labels: percent(N) is active in N% of rolls.

        Labels that are not ``percent(N)`` (feature flags) are never active: the field
        stays with the subgraph it would override.
        """
        roll = self._override_random.random
        return frozenset(
            label
            for label, percent in self._percent_labels
            if percent is not None and (percent >= 100 or roll() * 100 < percent)
        )

    # -- execution -------------------------------------------------------------------------

    def _span(self, name: str, attributes: dict[str, Any]) -> AbstractContextManager[Span | None]:
        if self.tracer is None:
            return nullcontext()
        return self.tracer.start_as_current_span(name, attributes=attributes)

    async def execute(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> dict[str, Any]:
        """Run a query or mutation. Invalid variables raise :class:`RequestError`."""
        with self._span(
            "graphql.operation",
            {
                "graphql.operation.type": operation.operation_type.value,
                "graphql.operation.name": operation.operation_name or "",
            },
        ):
            op = self._operation(operation)
            variables = self.coerce_variables(op, request)
            try:
                plan = self.plan(operation, request, variables)
            except PlanningError as exc:
                return _planning_failed(exc)
            state = await self.executor.run(plan, variables, forwardable(context.headers))
            return self.executor.shape(
                plan, state, self.api_schema, self._introspect(plan, variables)
            )

    def _introspect(self, plan: QueryPlan, variables: Mapping[str, Any]) -> dict[str, Any] | None:
        if plan.introspection is None:
            return None
        result = execute(self.api_schema, plan.introspection, variable_values=dict(variables))
        return result.data if isinstance(result, ExecutionResult) else None

    def subscribe(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> AsyncIterator[dict[str, Any]]:
        """Each subgraph event, with entity fields from other subgraphs resolved by plan."""
        return self._subscribe(operation, request, context)

    async def _subscribe(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> AsyncIterator[dict[str, Any]]:
        if operation.operation_type != OperationType.SUBSCRIPTION:
            raise RequestError([{"message": "subscribe() needs a subscription operation."}])
        op = self._operation(operation)
        variables = self.coerce_variables(op, request)
        try:
            plan = self.plan(operation, request, variables)
        except PlanningError as exc:
            yield _planning_failed(exc)
            return
        roots = [f for f in plan.fetches if not f.entity]
        if len(roots) != 1:
            raise RequestError(
                [{"message": "A subscription must select exactly one subgraph root field."}]
            )
        root = roots[0]
        headers = forwardable(context.headers)
        sub_vars = {n: variables[n] for n in root.variable_names if n in variables}
        events = subgraph_events(self.supergraph.url(root.graph), root.operation, sub_vars, headers)
        try:
            async for payload in events:
                state = ExecutionState()
                data = payload.get("data")
                if root.unalias and isinstance(data, dict):
                    data = strip_own_type_aliases(data)
                if isinstance(data, dict):
                    merge(state.data, data, self.supergraph.interface_object_names)
                for error in payload.get("errors") or ():
                    if isinstance(error, dict):
                        error = dict(error)
                        if isinstance(error.get("path"), list):
                            error["path"] = client_path(error["path"])
                        extensions = dict(error.get("extensions") or {})
                        extensions.setdefault("serviceName", root.graph)
                        error["extensions"] = extensions
                        state.errors.append(error)
                await self.executor.run(plan, variables, headers, state, frozenset({root.id}))
                yield self.executor.shape(plan, state, self.api_schema)
        except SubscriptionError as exc:
            yield {
                "data": None,
                "errors": [
                    {
                        "message": str(exc),
                        "extensions": {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": root.graph},
                    }
                ],
            }
        finally:
            await events.aclose()  # type: ignore[attr-defined]
