"""The scoring subgraph reads a request's customers' metrics in one store call."""

from __future__ import annotations

from collections.abc import Sequence

from services.scoring.adapters.in_memory import InMemoryMetricsStore
from services.scoring.api.graph import ScoringContext, schema
from services.scoring.domain.metrics import CustomerMetrics
from shared.auth import Principal

READER = Principal(subject="reader", scopes=frozenset({"customers:read"}))
SCORES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer {
  id scores { eventsByChannel { count } } } } }"""


class CountingStore(InMemoryMetricsStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[Sequence[str]] = []

    async def load(self, customer_ids):
        self.loads.append(list(customer_ids))
        return await super().load(customer_ids)


async def test_scores_of_many_customers_are_one_store_read():
    store = CountingStore()
    store.docs.update(
        {
            f"c{n}": CustomerMetrics(f"c{n}", events_by_channel={"web": n + 1}, version=1)
            for n in range(30)
        }
    )
    ids = [f"c{n}" for n in range(30)] + ["new", "c3"]

    result = await schema.execute(
        SCORES,
        variable_values={"r": [{"__typename": "Customer", "id": i} for i in ids]},
        context_value=ScoringContext(READER, store),
    )

    assert result.errors is None, result.errors
    assert result.data is not None
    assert len(store.loads) == 1
    assert sorted(store.loads[0]) == sorted(set(ids))
    counts = [entity["scores"]["eventsByChannel"] for entity in result.data["_entities"]]
    assert counts == [*([{"count": n + 1}] for n in range(30)), [], [{"count": 4}]]
