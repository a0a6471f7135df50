"""The per-request loader ``scoringExport`` adds to the subgraph's: threshold states."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from services.scoring.adapters.ports import ModelStore
from services.scoring.domain.crossings import ScoreState


class ExportLoaders:
    """``states``: each customer's last announced side of every score threshold, read for
    all the customers of a request at once (none without a model store)."""

    def __init__(self, models: ModelStore | None) -> None:
        self._models = models
        self.states = DataLoader[str, dict[str, ScoreState]](load_fn=self._states)

    async def _states(self, customer_ids: list[str]) -> list[dict[str, ScoreState]]:
        if self._models is None:
            return [{} for _ in customer_ids]
        found = await self._models.states(customer_ids)
        return [found.get(customer_id, {}) for customer_id in customer_ids]
