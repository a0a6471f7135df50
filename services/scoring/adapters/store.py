"""The metrics store port and its in-memory twin.

Writes are guarded by a version: a save replaces the document only if it still
has the version the metrics were loaded at, so two writers can never both add
their events on top of the same state (one of them fails and retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass
class InMemoryMetricsStore:
    """:class:`MetricsStore` in a dict."""

    docs: dict[str, CustomerMetrics] = field(default_factory=dict)

    async def load(self, customer_ids: Sequence[str]) -> dict[str, CustomerMetrics]:
        return {cid: self.docs[cid] for cid in customer_ids if cid in self.docs}

    async def save(self, metrics: Sequence[CustomerMetrics]) -> None:
        stale = []
        for item in metrics:
            current = self.docs.get(item.customer_id)
            if (current.version if current else 0) != item.version - 1:
                stale.append(item.customer_id)
                continue
            self.docs[item.customer_id] = item
        if stale:
            raise StaleMetricsError(f"metrics of {stale} changed meanwhile; retry the batch")
