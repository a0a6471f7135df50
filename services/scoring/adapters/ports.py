"""The metrics store port.

Writes are guarded by a version: a save replaces the document only if it still
has the version the metrics were loaded at, so two writers can never both add
their events on top of the same state (one of them fails and retries).
:class:`InMemoryMetricsStore` (``adapters/in_memory.py``) is its twin for unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.scoring.domain import ScoringError
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
