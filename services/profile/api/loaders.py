"""Per-request DataLoaders of the profile subgraph.

A list of customers (``_entities`` with many representations, aliased ``customer``
fields) resolves each customer and each identity list through these loaders, so the
request reads all its customers in one store call and all their identities in another,
however many customers it names. A loader lives as long as its request's context: its
cache never serves one caller what was read for another.
"""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from services.profile.adapters.ports import ProfileStore
from services.profile.domain.customer import Customer
from services.profile.domain.identity import IdentityRecord


class ProfileLoaders:
    """``customer`` (a customer or ``None`` by id) and ``identities`` (by customer id)."""

    def __init__(self, store: ProfileStore) -> None:
        self._store = store
        self.customer = DataLoader[str, Customer | None](load_fn=self._customers)
        self.identities = DataLoader[str, list[IdentityRecord]](load_fn=self._identities)

    async def _customers(self, customer_ids: list[str]) -> list[Customer | None]:
        found = await self._store.customers(customer_ids)
        return [found.get(customer_id) for customer_id in customer_ids]

    async def _identities(self, customer_ids: list[str]) -> list[list[IdentityRecord]]:
        found = await self._store.identities_of(customer_ids)
        return [found.get(customer_id, []) for customer_id in customer_ids]
