"""Runs query plans: fetches in dependency order, merged into one tree, then shaped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import orjson
from graphql import GraphQLSchema
from opentelemetry import propagate
from opentelemetry.trace import Span, Tracer

from gateway.executor.shaper import ResponseShaper
from gateway.executor.stats import EngineStats
from gateway.executor.tree import (
    Path,
    client_path,
    merge,
    objects_at,
    representation,
    strip_own_type_aliases,
)
from gateway.fetcher import SubgraphFetcher, SubgraphFetchError
from gateway.planner.plan import Fetch, PlanStep, QueryPlan
from gateway.supergraph import Supergraph

_DOWNSTREAM = "DOWNSTREAM_SERVICE_ERROR"


class MetricsSink(Protocol):
    """The push side of the HTTP layer's metrics (``gateway.telemetry.EngineMetrics``)."""

    def subgraph_error(self, subgraph: str, kind: str) -> None: ...

    def subgraph_fetch(self, subgraph: str, seconds: float) -> None: ...

    def plan_cache_lookup(self, hit: bool) -> None: ...


def _only(entity: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """The part of an @interfaceObject entity that its runtime type asked for."""
    return {k: v for k, v in entity.items() if k in keys or k == "__typename"}


class ExecutionState:
    """What one operation accumulates: the merged tree and the errors, in client paths."""

    __slots__ = ("data", "errors", "failed")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data if data is not None else {}
        self.errors: list[dict[str, Any]] = []
        self.failed: list[list[str | int]] = []
        """Client paths a failed fetch left empty: one error covers all nulls below them."""


class PlanExecutor:
    """Executes plans against subgraphs through a :class:`SubgraphFetcher`."""

    def __init__(
        self,
        supergraph: Supergraph,
        fetcher: SubgraphFetcher,
        stats: EngineStats,
        tracer: Tracer | None = None,
    ) -> None:
        self.sg = supergraph
        self.fetcher = fetcher
        self.stats = stats
        self.tracer = tracer
        self.metrics: MetricsSink | None = None
        self._abstract = supergraph.interface_object_names

    async def run(
        self,
        plan: QueryPlan,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        state: ExecutionState | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> ExecutionState:
        """Run every step, mutation steps strictly in order; ``skip`` omits fetches already done."""
        state = state or ExecutionState()
        for step in plan.steps:
            await self._run_step(step, state, variables, headers, skip)
        return state

    def shape(
        self,
        plan: QueryPlan,
        state: ExecutionState,
        schema: GraphQLSchema,
        introspection: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        errors = list(state.errors)
        data = ResponseShaper(schema, plan, errors, introspection, state.failed).shape(state.data)
        response: dict[str, Any] = {}
        if errors:
            response["errors"] = errors
        response["data"] = data
        return response

    async def _run_step(
        self,
        step: PlanStep,
        state: ExecutionState,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        skip: frozenset[int],
    ) -> None:
        fetches = [f for f in step.fetches if f.id not in skip]
        if len(fetches) == 1:
            await self._run_fetch(fetches[0], state, variables, headers)
            return
        tasks: dict[int, asyncio.Future[None]] = {}

        async def run(fetch: Fetch) -> None:
            waits = [tasks[d] for d in fetch.depends_on if d in tasks]
            if waits:
                await asyncio.gather(*waits)
            await self._run_fetch(fetch, state, variables, headers)

        for fetch in fetches:
            tasks[fetch.id] = asyncio.ensure_future(run(fetch))
        await asyncio.gather(*tasks.values())

    def _span(self, name: str, attributes: dict[str, Any]) -> AbstractContextManager[Span | None]:
        if self.tracer is None:
            return nullcontext()
        return self.tracer.start_as_current_span(name, attributes=attributes)

    async def _run_fetch(
        self,
        fetch: Fetch,
        state: ExecutionState,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
    ) -> None:
        with self._span(
            "graphql.plan_node",
            {"graphql.plan_node.id": fetch.id, "graphql.plan_node.subgraph": fetch.graph},
        ):
            if fetch.entity:
                await self._entity_fetch(fetch, state, variables, headers)
            else:
                await self._root_fetch(fetch, state, variables, headers)

    def _variables(self, fetch: Fetch, variables: Mapping[str, Any]) -> dict[str, Any]:
        return {name: variables[name] for name in fetch.variable_names if name in variables}

    async def _call(
        self,
        fetch: Fetch,
        payload: dict[str, Any],
        headers: Mapping[str, str],
        state: ExecutionState,
        affected: Callable[[], list[list[str | int]]],
    ) -> dict[str, Any] | None:
        """One subgraph request. On failure: one error at the first ``affected()`` client
        path (the fields or entities this fetch was resolving), all of them marked failed.
        (A callable: the paths are only built when a fetch fails.)"""
        self.stats.count_fetch(fetch.graph)
        with self._span("graphql.fetch", {"subgraph": fetch.graph}) as span:
            if span is not None:
                headers = dict(headers)
                propagate.inject(headers)
            started = time.perf_counter()
            try:
                result = await self.fetcher.fetch(
                    fetch.graph,
                    self.sg.url(fetch.graph),
                    payload,
                    headers,
                    dedupe=fetch.operation_kind == "query",
                )
            except SubgraphFetchError as exc:
                self.stats.count_fetch_error(fetch.graph)
                if self.metrics is not None:
                    self.metrics.subgraph_error(fetch.graph, "http")
                error: dict[str, Any] = {
                    "message": str(exc),
                    "extensions": {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": fetch.graph},
                }
                if exc.status is not None:
                    error["extensions"]["http"] = {"status": exc.status}
                self._fail(error, state, affected())
                if span is not None:
                    span.record_exception(exc)
                return None
            if self.metrics is not None:
                self.metrics.subgraph_fetch(fetch.graph, time.perf_counter() - started)
                if result.get("errors"):
                    self.metrics.subgraph_error(fetch.graph, "graphql")
            return result

    async def _root_fetch(
        self,
        fetch: Fetch,
        state: ExecutionState,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
    ) -> None:
        payload: dict[str, Any] = {"query": fetch.operation}
        if fetch.variable_names:
            payload["variables"] = self._variables(fetch, variables)

        def affected() -> list[list[str | int]]:
            return [[key] for key in fetch.root_keys]

        result = await self._call(fetch, payload, headers, state, affected)
        if result is None:
            return
        data = result.get("data")
        if fetch.unalias and isinstance(data, dict):
            data = strip_own_type_aliases(data)
        if isinstance(data, dict):
            merge(state.data, data, self._abstract)
            self._add_errors(fetch, result, state, lambda p: [client_path(p)], None)
        else:
            self._add_errors(fetch, result, state, lambda p: [client_path(p)], affected())

    async def _entity_fetch(
        self,
        fetch: Fetch,
        state: ExecutionState,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
    ) -> None:
        found: list[tuple[dict[str, Any], Path]] = []
        objects_at(state.data, fetch.path, 0, (), found)
        reps: list[dict[str, Any]] = []
        targets: list[list[tuple[dict[str, Any], Path]]] = []
        index: dict[bytes, int] = {}
        schema = self.sg.full_schema
        for obj, path in found:
            spec = fetch.representations.get(obj.get("__typename"))  # type: ignore[arg-type]
            if spec is None:
                continue
            rep = representation(obj, spec, schema)
            if rep is None:
                continue
            rep_key = orjson.dumps(rep, option=orjson.OPT_SORT_KEYS)
            position = index.get(rep_key)
            if position is None:
                position = index[rep_key] = len(reps)
                reps.append(rep)
                targets.append([])
            targets[position].append((obj, path))
        if not reps:
            return
        payload = {
            "query": fetch.operation,
            "variables": {**self._variables(fetch, variables), "representations": reps},
        }

        def affected() -> list[list[str | int]]:
            return [list(where) for group in targets for _, where in group]

        result = await self._call(fetch, payload, headers, state, affected)
        if result is None:
            return
        data = result.get("data")
        entities = data.get("_entities") if isinstance(data, dict) else None
        if fetch.unalias and isinstance(entities, list):
            entities = strip_own_type_aliases(entities)
        if isinstance(entities, list):
            only = fetch.runtime_keys
            for position, entity in enumerate(entities[: len(targets)]):
                if isinstance(entity, dict):
                    for obj, _ in targets[position]:
                        keys = only.get(obj.get("__typename")) if only else None  # type: ignore[arg-type]
                        if keys is not None:
                            merge(obj, _only(entity, keys), self._abstract)
                        else:
                            merge(obj, entity, self._abstract)

        def repath(path: list[Any]) -> list[list[str | int]]:
            entity = len(path) >= 2 and path[0] == "_entities" and isinstance(path[1], int)
            if entity and path[1] < len(targets):
                rest = client_path(path[2:])
                return [[*where, *rest] for _, where in targets[path[1]]]
            # An error about the fetch as a whole (e.g. path ["_entities"]) belongs to the
            # entities it was resolving: the first one, as for a failed request.
            return [list(targets[0][0][1])]

        self._add_errors(
            fetch, result, state, repath, None if isinstance(entities, list) else affected()
        )

    def _fail(
        self, error: dict[str, Any], state: ExecutionState, affected: list[list[str | int]]
    ) -> None:
        if affected:
            error = {"message": error["message"], "path": affected[0], **error}
        state.errors.append(error)
        state.failed.extend(affected)

    def _add_errors(
        self,
        fetch: Fetch,
        result: dict[str, Any],
        state: ExecutionState,
        repath: Any,
        failed: list[list[str | int]] | None,
    ) -> None:
        """Subgraph errors in client paths. ``failed``: the fetch returned no data at all,
        so errors without a path belong to the first affected field (one error covers all)."""
        errors = result.get("errors") or ()
        if failed is not None:
            state.failed.extend(failed)
            if not errors:
                return
        for error in errors:
            if failed and isinstance(error, dict) and not isinstance(error.get("path"), list):
                self._add_subgraph_error(fetch, error, state, repath, failed[0])
            else:
                self._add_subgraph_error(fetch, error, state, repath)

    def _add_subgraph_error(
        self,
        fetch: Fetch,
        error: Any,
        state: ExecutionState,
        repath: Any,
        fallback_path: list[str | int] | None = None,
    ) -> None:
        if not isinstance(error, dict):
            return
        extensions = dict(error.get("extensions") or {})
        extensions.setdefault("code", _DOWNSTREAM)
        extensions["serviceName"] = fetch.graph
        base: dict[str, Any] = {"message": str(error.get("message", "subgraph error"))}
        path = error.get("path")
        paths: list[list[str | int]] = (
            repath(path) if isinstance(path, list) else [fallback_path or []]
        )
        for client in paths:
            out = dict(base)
            if client:
                out["path"] = client
            out["extensions"] = extensions
            state.errors.append(out)
