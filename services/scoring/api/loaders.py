"""Per-request DataLoaders of the scoring subgraph.

``_entities`` with many customers resolves each one's ``scores`` through
:attr:`ScoringLoaders.metrics`, so a request reads the metrics of all its customers in
one store call, however many customers it names.
"""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from services.scoring.adapters.ports import MetricsStore
from services.scoring.domain.metrics import CustomerMetrics


class ScoringLoaders:
    """``metrics``: a customer's stored metrics, or ``None`` when it has none yet."""

    def __init__(self, store: MetricsStore) -> None:
        self._store = store
        self.metrics = DataLoader[str, CustomerMetrics | None](load_fn=self._metrics)

    async def _metrics(self, customer_ids: list[str]) -> list[CustomerMetrics | None]:
        found = await self._store.load(customer_ids)
        return [found.get(customer_id) for customer_id in customer_ids]
