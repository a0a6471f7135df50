"""Hot reload of the supergraph: re-read a file or re-compose the subgraphs, swap engines.

A :class:`SupergraphReloader` owns the gateway's current engine once started. A
refresh (SIGHUP, ``POST /admin/reload`` or the poll timer) loads the source again;
when the SDL's sha256 changed it builds a new engine and swaps it in one
assignment, so new operations plan against the new supergraph while operations
and subscriptions already running finish on the old engine. The old engine is
closed once it has been retired for ``grace_seconds`` and nothing uses it.
A failed refresh changes nothing: the old supergraph keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from graphql import GraphQLSchema
from prometheus_client import CollectorRegistry, Counter

from gateway.engine import Engine, GraphQLRequest, PreparedOperation, RequestContext

logger = logging.getLogger("gateway.reload")

Outcome = Literal["applied", "unchanged", "failed"]
EngineBuilder = Callable[[str], Engine | Awaitable[Engine]]
"""Builds an engine from a supergraph SDL."""


class SupergraphLoadError(Exception):
    """The source could not produce a supergraph; ``problems`` says why, one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"cannot load the supergraph from {source}: " + "; ".join(problems))


class SupergraphSource(Protocol):
    """Where a supergraph SDL comes from; asked again on every refresh."""

    @property
    def description(self) -> str:
        """Names the source in logs and in ``/admin/supergraph``."""

    async def load(self) -> str:
        """The supergraph SDL; raises :class:`SupergraphLoadError` when there is none."""


@dataclass(frozen=True, slots=True)
class FileSource:
    """A supergraph file composed by standard tools (rover, ``compose()``), re-read each time."""

    path: Path

    @property
    def description(self) -> str:
        return f"file {self.path}"

    async def load(self) -> str:
        try:
            return await asyncio.to_thread(self.path.read_text)
        except OSError as exc:
            raise SupergraphLoadError(self.description, [f"cannot read it: {exc}"]) from exc


@dataclass(frozen=True, slots=True)
class SubgraphsSource:
    """Running subgraphs: fetch each ``_service { sdl }`` and compose them.

    ``headers`` is called per load so short-lived service tokens are fresh.
    """

    subgraphs: Mapping[str, str]
    headers: Callable[[], Mapping[str, str]] = dict
    transport: httpx.AsyncBaseTransport | None = None
    timeout_seconds: float = 10.0

    @property
    def description(self) -> str:
        return "subgraphs " + ", ".join(sorted(self.subgraphs))

    async def load(self) -> str:
        from gateway.composition import CompositionError, compose, fetch_subgraph_sdl

        headers = self.headers()
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_seconds, transport=self.transport
            ) as client:
                definitions = await asyncio.gather(
                    *(
                        fetch_subgraph_sdl(client, name, url, headers)
                        for name, url in self.subgraphs.items()
                    )
                )
            return compose(list(definitions))
        except CompositionError as exc:
            raise SupergraphLoadError(
                self.description, [str(problem) for problem in exc.problems]
            ) from exc


@dataclass(frozen=True, slots=True)
class LoadedSupergraph:
    """The supergraph an engine serves: its text, sha256 and when it was loaded."""

    sdl: str
    sha256: str
    loaded_at: datetime

    @classmethod
    def of(cls, sdl: str) -> LoadedSupergraph:
        digest = hashlib.sha256(sdl.encode()).hexdigest()
        return cls(sdl, digest, datetime.now(UTC))

    def describe(self) -> dict[str, str]:
        return {"sha256": self.sha256, "loadedAt": self.loaded_at.isoformat()}


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one refresh did; ``problems`` names the failing subgraphs or composition rules."""

    outcome: Outcome
    trigger: str
    sha256: str
    previous_sha256: str
    problems: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "trigger": self.trigger,
            "sha256": self.sha256,
            "previousSha256": self.previous_sha256,
            "problems": list(self.problems),
        }


@dataclass(eq=False)
class LeasedEngine:
    """An engine that counts the operations and subscriptions running on it.

    Everything else (``api_schema``, ``prepare``, ``aclose``, stats) is the wrapped
    engine's own, so the HTTP layer and metrics see no difference.
    """

    engine: Engine
    supergraph: LoadedSupergraph
    active: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def __getattr__(self, name: str) -> Any:
        if name == "engine":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.engine, name)

    @property
    def api_schema(self) -> GraphQLSchema:
        return self.engine.api_schema

    def prepare(self, request: GraphQLRequest) -> PreparedOperation:
        return self.engine.prepare(request)

    async def execute(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> dict[str, Any]:
        self._acquire()
        try:
            return await self.engine.execute(operation, request, context)
        finally:
            self._release()

    async def subscribe(
        self, operation: PreparedOperation, request: GraphQLRequest, context: RequestContext
    ) -> AsyncIterator[dict[str, Any]]:
        self._acquire()
        events = self.engine.subscribe(operation, request, context)
        try:
            async for event in events:
                yield event
        finally:
            closer = getattr(events, "aclose", None)
            try:
                if closer is not None:
                    await closer()
            finally:
                self._release()

    def _acquire(self) -> None:
        self.active += 1
        self.idle.clear()

    def _release(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.idle.set()


class EngineSlot(Protocol):
    """Where the app keeps its engine (``gateway.http.pipeline.EngineHolder``)."""

    current: Engine | None


class SupergraphReloader:
    """Loads the supergraph, swaps engines on refresh and retires the old ones safely."""

    def __init__(
        self,
        source: SupergraphSource,
        build: EngineBuilder,
        *,
        poll_seconds: float = 0.0,
        grace_seconds: float = 5.0,
        handle_sighup: bool = False,
    ) -> None:
        self.source = source
        self._build = build
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.handle_sighup = handle_sighup
        self.current: LeasedEngine | None = None
        self.last: ReloadOutcome | None = None
        self._slot: EngineSlot | None = None
        self._on_engine: Callable[[Engine], None] = lambda _: None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        self._retired: set[LeasedEngine] = set()
        self._counter: Counter | None = None

    def bind(
        self,
        slot: EngineSlot,
        registry: CollectorRegistry,
        on_engine: Callable[[Engine], None] | None = None,
    ) -> None:
        """Attach to the app: the slot it swaps, the registry its counter lives in."""
        self._slot = slot
        self._on_engine = on_engine or self._on_engine
        self._counter = Counter(
            "threadline_gateway_supergraph_reloads_total",
            "Supergraph refreshes by outcome (applied, unchanged, failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("applied", "unchanged", "failed"):
            self._counter.labels(outcome)

    async def load_initial(self, sdl: str | None = None) -> LeasedEngine:
        """The first engine: from ``sdl`` when the caller already has it, else the source."""
        text = sdl if sdl is not None else await self.source.load()
        leased = await self._engine_for(LoadedSupergraph.of(text))
        self.current = leased
        return leased

    async def reload(self, trigger: str) -> ReloadOutcome:
        """Refresh once; never raises for a bad source (the outcome says ``failed``)."""
        async with self._lock:
            old = self.current
            previous = old.supergraph.sha256 if old else ""
            try:
                loaded = LoadedSupergraph.of(await self.source.load())
                if old is not None and loaded.sha256 == previous:
                    return self._record(ReloadOutcome("unchanged", trigger, previous, previous))
                leased = await self._engine_for(loaded)
            except Exception as exc:
                problems = (
                    exc.problems
                    if isinstance(exc, SupergraphLoadError)
                    else [f"{type(exc).__name__}: {exc}"]
                )
                logger.error(
                    "supergraph refresh failed; still serving the previous supergraph",
                    extra={
                        "event": "supergraph_reload_failed",
                        "trigger": trigger,
                        "source": self.source.description,
                        "problems": problems,
                        "serving_sha256": previous,
                    },
                )
                return self._record(
                    ReloadOutcome("failed", trigger, previous, previous, tuple(problems))
                )
            self._swap(old, leased)
            logger.info(
                "supergraph refreshed",
                extra={
                    "event": "supergraph_reloaded",
                    "trigger": trigger,
                    "sha256": loaded.sha256,
                    "previous_sha256": previous,
                },
            )
            return self._record(ReloadOutcome("applied", trigger, loaded.sha256, previous))

    def status(self) -> dict[str, Any]:
        current = self.current.supergraph.describe() if self.current else {}
        return {
            **current,
            "source": self.source.description,
            "lastReload": self.last.describe() if self.last else None,
        }

    async def start(self) -> None:
        """Start the poll timer and the SIGHUP handler (when configured)."""
        loop = asyncio.get_running_loop()
        if self.handle_sighup:
            try:
                loop.add_signal_handler(signal.SIGHUP, self._spawn_reload, "sighup")
            except (NotImplementedError, RuntimeError, ValueError):
                logger.warning("SIGHUP cannot be handled here; use POST /admin/reload")
        if self.poll_seconds > 0:
            self._track(self._tasks, self._poll())

    async def aclose(self) -> None:
        """Stop refreshing and close every retired engine (the app closes the current one)."""
        if self.handle_sighup:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in list(self._tasks) + list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._retiring, return_exceptions=True)
        for old in list(self._retired):
            await self._close(old)

    async def _engine_for(self, loaded: LoadedSupergraph) -> LeasedEngine:
        built: Any = self._build(loaded.sdl)
        if isinstance(built, Awaitable):
            built = await built
        self._on_engine(built)
        return LeasedEngine(built, loaded)

    def _swap(self, old: LeasedEngine | None, new: LeasedEngine) -> None:
        # One assignment each: no await in between, so no request sees a half-swapped state.
        self.current = new
        if self._slot is not None:
            self._slot.current = new
        if old is not None:
            self._retired.add(old)
            self._track(self._retiring, self._retire(old))

    async def _retire(self, old: LeasedEngine) -> None:
        # The grace period covers operations that took the engine but have not started
        # executing yet (they hold no lease until ``execute``/``subscribe`` runs).
        await asyncio.sleep(self.grace_seconds)
        await old.idle.wait()
        await self._close(old)

    async def _close(self, old: LeasedEngine) -> None:
        self._retired.discard(old)
        closer = getattr(old.engine, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception:
                logger.exception("closing a retired engine failed")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.reload("poll")

    def _spawn_reload(self, trigger: str) -> None:
        self._track(self._tasks, self._reload_quietly(trigger))

    async def _reload_quietly(self, trigger: str) -> None:
        await self.reload(trigger)

    def _track(self, tasks: set[asyncio.Task[None]], coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _record(self, outcome: ReloadOutcome) -> ReloadOutcome:
        self.last = outcome
        if self._counter is not None:
            self._counter.labels(outcome.outcome).inc()
        return outcome
