"""In-memory twins of the scoring service's ports, for unit tests of handlers and APIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.scoring.adapters.ports import StaleMetricsError
from services.scoring.domain.metrics import CustomerMetrics


@dataclass
class InMemoryMetricsStore:
    """:class:`MetricsStore` in a dict."""

    docs: dict[str, CustomerMetrics] = field(default_factory=dict)

    async def load(self, customer_ids: Sequence[str]) -> dict[str, CustomerMetrics]:
        return {cid: self.docs[cid] for cid in customer_ids if cid in self.docs}

    async def delete(self, customer_ids: Sequence[str]) -> None:
        for customer_id in customer_ids:
            self.docs.pop(customer_id, None)

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
