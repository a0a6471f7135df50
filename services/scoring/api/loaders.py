"""Per-request DataLoaders of the scoring subgraph.

``_entities`` with many customers resolves each one's ``scores`` through these,
so a request reads the metrics and the facts of all its customers in one store
call each, however many customers it names; the current models once.
"""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from services.scoring.adapters.ports import KpiStore, MetricsStore, ModelStore
from services.scoring.domain.composite import CPI_V1, IES_V1
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.metrics import CustomerMetrics
from services.scoring.handlers.scores import Models, current_models


class ScoringLoaders:
    """``metrics``: a customer's stored metrics, or ``None`` when it has none yet;
    ``facts``: the KPI facts of the customer an id lives on in (merged ids follow the alias)."""

    def __init__(
        self, store: MetricsStore, kpis: KpiStore | None = None, models: ModelStore | None = None
    ) -> None:
        self._store = store
        self._kpis = kpis
        self._models = models
        self._current: Models | None = None
        self.metrics = DataLoader[str, CustomerMetrics | None](load_fn=self._metrics)
        self.facts = DataLoader[str, list[Fact]](load_fn=self._facts)

    async def _metrics(self, customer_ids: list[str]) -> list[CustomerMetrics | None]:
        found = await self._store.load(customer_ids)
        return [found.get(customer_id) for customer_id in customer_ids]

    async def _facts(self, customer_ids: list[str]) -> list[list[Fact]]:
        if self._kpis is None:
            return [[] for _ in customer_ids]
        survivors = await self._kpis.survivors(customer_ids)
        owners = [survivors.get(c, c) for c in customer_ids]
        found = await self._kpis.customer_facts(owners)
        return [found.get(owner, []) for owner in owners]

    async def models(self) -> Models:
        """The current CLV fit and IES/CPI models, read once per request."""
        if self._current is None:
            if self._models is None:
                self._current = (None, IES_V1, CPI_V1)
            else:
                self._current = await current_models(self._models)
        return self._current
