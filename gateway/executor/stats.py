"""Plain counters the HTTP layer exports (e.g. as Prometheus metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class EngineStats:
    """Counters since the engine started. Mutated in place; read them, do not reset them."""

    plan_cache_hits: int = 0
    plan_cache_misses: int = 0
    fetches: dict[str, int] = field(default_factory=dict)
    fetch_errors: dict[str, int] = field(default_factory=dict)

    def count_fetch(self, subgraph: str) -> None:
        self.fetches[subgraph] = self.fetches.get(subgraph, 0) + 1

    def count_fetch_error(self, subgraph: str) -> None:
        self.fetch_errors[subgraph] = self.fetch_errors.get(subgraph, 0) + 1
