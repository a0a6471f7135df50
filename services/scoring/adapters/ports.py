"""The metrics store port.

Writes are guarded by a version: a save replaces the document only if it still
has the version the metrics were loaded at, so two writers can never both add
their events on top of the same state (one of them fails and retries).
:class:`InMemoryMetricsStore` (``adapters/in_memory.py``) is its twin for unit tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.scoring.domain import ScoringError
from services.scoring.domain.clv import ClvModel
from services.scoring.domain.composite import CompositeModel
from services.scoring.domain.crossings import ScoreState
from services.scoring.domain.kpi_buckets import Contribution, Fact, Fields
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.metrics import CustomerMetrics


class StaleMetricsError(ScoringError):
    """The metrics changed since they were loaded; retry the batch to apply on the new state."""


class MetricsStore(Protocol):
    async def load(self, customer_ids: Sequence[str]) -> dict[str, CustomerMetrics]:
        """The stored metrics of those customers that have any."""

    async def save(self, metrics: Sequence[CustomerMetrics]) -> None:
        """Store each metrics whose stored version is one below its own.

        Raises :class:`StaleMetricsError` when another writer got there first.
        """

    async def delete(self, customer_ids: Sequence[str]) -> None:
        """Forget those customers' metrics (an erasure)."""


class StaleContributionError(ScoringError):
    """Another writer replaced a KPI contribution since it was read; retry the batch."""


@dataclass(frozen=True, slots=True)
class Contributor:
    """What one customer (``c:<id>``) or order (``o:<id>``) has added to the day buckets."""

    key: str
    version: int
    contribution: Contribution


def customer_key(customer_id: str) -> str:
    return f"c:{customer_id}"


def order_key(order_id: str) -> str:
    return f"o:{order_id}"


class KpiBuckets(Protocol):
    """The day buckets and their month rollups, read (what KPI queries need).

    ``InMemoryKpiBuckets`` (``adapters/in_memory.py``) is its twin for unit tests.
    """

    async def buckets(
        self, scopes: Sequence[str] | None, first: int, end: int
    ) -> dict[str, dict[int, Fields]]:
        """Scope → day number → the bucket's flattened fields, days ``[first, end)``."""

    async def months(
        self, scopes: Sequence[str], firsts: Sequence[int]
    ) -> dict[str, dict[int, Fields]]:
        """Scope → first day of a month → that month's day buckets summed."""

    async def days(
        self, scopes: Sequence[str], numbers: Sequence[int]
    ) -> dict[str, dict[int, Fields]]:
        """Scope → day number → the bucket's flattened fields, of the days listed."""


class KpiStore(KpiBuckets, Protocol):
    """Facts per event, contributions per customer and order, and the day buckets they sum to.

    ``MongoKpiStore`` (``adapters/kpi_store.py``) documents how a replacement reaches
    the buckets exactly once.
    """

    async def survivors(self, ids: Iterable[str]) -> dict[str, str]:
        """Each merged-away id among ``ids`` → the customer it now lives on in."""

    async def erased(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that were erased (their later events are dropped)."""

    async def record_merge(self, merged: Sequence[str], survivor: str) -> None: ...

    async def forget_alias(self, customer_id: str) -> None: ...

    async def record_erased(self, ids: Sequence[str]) -> None: ...

    async def record_membership(
        self, segment_id: str, customer_id: str, inside: bool, at: datetime
    ) -> bool:
        """Record a segment.entered/exited unless a later one is stored; False when stale."""

    async def segments_of(self, customer_ids: Iterable[str]) -> dict[str, set[str]]:
        """The segments each customer is in now (those with none are left out)."""

    async def add_facts(self, facts: Sequence[Fact]) -> None:
        """Store facts under their event's customer id; an event id stored before is kept."""

    async def move_customers(self, sources: Sequence[str], target: str) -> None: ...

    async def move_ingests(self, ingest_ids: Sequence[str], target: str) -> None: ...

    async def delete_customers(self, ids: Sequence[str]) -> set[str]:
        """Delete the customers' facts; returns the order ids those facts named."""

    async def customer_facts(self, ids: Iterable[str]) -> dict[str, list[Fact]]: ...

    async def order_facts(self, order_ids: Iterable[str]) -> dict[str, list[KpiEvent]]: ...

    async def purchases(self, until: datetime) -> list[KpiEvent]: ...

    async def facts_between(self, start: datetime, end: datetime) -> list[Fact]: ...

    async def contributors(self, keys: Iterable[str]) -> dict[str, Contributor]:
        """Each key's stored contribution (version 0, empty, when it has none)."""

    async def replace(self, changes: Sequence[tuple[Contributor, Contribution]]) -> None:
        """Replace contributions; raises :class:`StaleContributionError` when one was stale."""

    async def scopes(self) -> list[str]: ...


class ModelStore(Protocol):
    """Versioned CLV fits and composite models, threshold states, snapshots, task leases.

    ``MongoModelStore`` (``adapters/models.py``) is the implementation.
    """

    async def save_clv(self, model: ClvModel, summary: Mapping[str, float]) -> int: ...

    async def latest_clv(self) -> tuple[int, ClvModel, dict[str, float]] | None: ...

    async def save_composite(self, model: CompositeModel, at: datetime) -> bool: ...

    async def composites(self, name: str | None = None) -> list[CompositeModel]: ...

    async def states(self, customer_ids: Iterable[str]) -> dict[str, dict[str, ScoreState]]: ...

    async def save_states(self, states: Mapping[str, Mapping[str, ScoreState]]) -> None: ...

    async def forget(self, customer_ids: Sequence[str]) -> None:
        """Forget those customers' threshold states (an erasure)."""

    async def move_states(self, sources: Sequence[str], target: str) -> None:
        """Re-key merged customers' threshold states to ``target`` (a merge): each score
        ``target`` has no state for takes the first source's that has one; the sources'
        states are removed. Repeating it changes nothing."""

    async def save_snapshot(self, day: str, report: Mapping[str, Any]) -> None: ...

    async def snapshots(self, first: str, end: str) -> list[dict[str, Any]]: ...

    async def has_snapshot(self, day: str) -> bool: ...

    async def acquire(self, task: str, holder: str, now: datetime, ttl: timedelta) -> bool: ...


class RescoringStore(Protocol):
    """The purchasing customers page by page, and which re-scoring passes have run.

    ``MongoRescoringStore`` (``adapters/rescoring.py``) is the implementation.
    """

    async def purchase_histories(
        self, *, after: str | None, until: datetime, customers: int
    ) -> dict[str, list[KpiEvent]]:
        """The order facts up to ``until`` of the first ``customers`` customers whose id sorts
        after ``after`` (every customer with an order, in id order, one read per page)."""

    async def passes_done(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` whose pass has completed."""

    async def mark_done(self, keys: Sequence[str], at: datetime) -> None: ...
