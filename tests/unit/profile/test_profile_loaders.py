"""The profile subgraph reads a request's customers through per-request DataLoaders."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.api.graph import ProfileContext, schema
from services.profile.handlers import handle_ingested
from shared.auth import Principal
from shared.bus.in_memory import InMemoryBus
from tests.unit.profile.profile_events import at, segment

READER = Principal(subject="reader", scopes=frozenset({"customers:read", "pii:read"}))
ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer {
  id identities { type value }
} } }"""


class CountingStore(InMemoryProfileStore):
    """The in-memory store, counting calls of the reads the subgraph makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def customers(self, customer_ids):
        self.calls["customers"] += 1
        return await super().customers(customer_ids)

    async def identities(self, customer_id):
        self.calls["identities"] += 1
        return await super().identities(customer_id)

    async def identities_of(self, customer_ids):
        self.calls["identities_of"] += 1
        return {cid: await super(CountingStore, self).identities(cid) for cid in customer_ids}


async def _identify(store: CountingStore, *users: str) -> None:
    await handle_ingested(
        [
            segment("identify", f"m-{user}", userId=user, anonymousId=f"anon-{user}",
                    traits={"email": f"{user}@example.com"}, timestamp=at(10))
            for user in users
        ],
        store=store,
        publisher=InMemoryBus(),
    )  # fmt: skip


async def _query(store: CountingStore, query: str, variables: dict[str, Any]) -> Any:
    result = await schema.execute(
        query, variable_values=variables, context_value=ProfileContext(READER, store)
    )
    assert result.errors is None, result.errors
    return result.data


async def test_entities_of_a_request_read_customers_and_identities_once_each():
    store = CountingStore()
    await _identify(store, *(f"user-{n}" for n in range(20)))
    ids = sorted(store.customer_docs)
    store.calls.clear()

    data = await _query(
        store, ENTITIES, {"r": [{"__typename": "Customer", "id": i} for i in [*ids, "nobody"]]}
    )

    assert store.calls == {"customers": 1, "identities_of": 1}
    *found, missing = data["_entities"]
    assert missing is None
    for customer_id, entity in zip(ids, found, strict=True):
        records = store.identity_docs.values()
        assert sorted((i["type"], i["value"]) for i in entity["identities"]) == sorted(
            (r.identity.type, r.identity.value) for r in records if r.customer_id == customer_id
        )


async def test_aliased_customer_fields_share_the_request_loader():
    store = CountingStore()
    await _identify(store, "ann", "bob")
    first, second = sorted(store.customer_docs)
    store.calls.clear()

    data = await _query(
        store,
        "query($a: ID!, $b: ID!) { a: customer(id: $a) { id identities { value } } "
        "b: customer(id: $b) { id } again: customer(id: $a) { id } }",
        {"a": first, "b": second},
    )

    assert store.calls == {"customers": 1, "identities_of": 1}
    assert (data["a"]["id"], data["b"]["id"], data["again"]["id"]) == (first, second, first)
