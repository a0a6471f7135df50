"""The journey subgraph reads a request's customers through per-request DataLoaders."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.journey.adapters.in_memory import InMemoryJourneyStore
from services.journey.api.graph import JourneyContext, schema
from services.journey.handlers import handle_customer_events
from shared.auth import Principal
from tests.support.journey_ports import memory_ports
from tests.support.resolved_events import at, resolved

READER = Principal(subject="reader", scopes=frozenset({"customers:read"}))
QUERY = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer {
  id
  all: timeline(first: 2) { totalCount edges { node { id } } }
  again: timeline(first: 2) { totalCount }
  web: timeline(first: 5, channel: "web") { totalCount edges { node { id } } }
  journeys { journeyId }
  frictions { id }
} } }"""


class CountingStore(InMemoryJourneyStore):
    """The in-memory store, counting calls of its batch reads and what they asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.asked: list[tuple[Any, ...]] = []

    async def timelines(self, customer_ids, *, first, after, channel):
        self.calls["timelines"] += 1
        self.asked.append((tuple(customer_ids), first, after, channel))
        return await super().timelines(customer_ids, first=first, after=after, channel=channel)

    async def journeys_of(self, customer_ids):
        self.calls["journeys_of"] += 1
        return await super().journeys_of(customer_ids)

    async def frictions_of(self, customer_ids):
        self.calls["frictions_of"] += 1
        return await super().frictions_of(customer_ids)


async def _store() -> CountingStore:
    store = CountingStore()
    await handle_customer_events(
        [
            resolved("page", f"m{c}{n}", f"c{c}", name="Home", timestamp=at(9 + n),
                     context={"channel": "web" if n % 2 else "email"})
            for c in range(5)
            for n in range(c)
        ],
        memory_ports(store),
    )  # fmt: skip
    return store


async def _entities(store: CountingStore, ids: list[str]) -> list[Any]:
    result = await schema.execute(
        QUERY,
        variable_values={"r": [{"__typename": "Customer", "id": i} for i in ids]},
        context_value=JourneyContext(principal=READER, store=store),
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    found: list[Any] = result.data["_entities"]
    return found


async def test_a_request_reads_timelines_once_per_page_shape_and_the_rest_once_each():
    store = await _store()
    ids = ["c0", "c1", "c2", "c3", "c4", "c2"]

    found = await _entities(store, ids)

    assert store.calls == {"timelines": 2, "journeys_of": 1, "frictions_of": 1}
    assert sorted((first, channel) for _, first, _, channel in store.asked) == [
        (2, None),
        (5, "web"),
    ]
    assert all(sorted(customers) == sorted(set(ids)) for customers, *_ in store.asked)
    for customer_id, entity in zip(ids, found, strict=True):
        page = await store.timeline(customer_id, first=2, after=None, channel=None)
        web = await store.timeline(customer_id, first=5, after=None, channel="web")
        assert entity["all"]["totalCount"] == entity["again"]["totalCount"]
        assert entity["all"]["totalCount"] == await store.count(customer_id, None)
        assert [e["node"]["id"] for e in entity["all"]["edges"]] == [t.id for t in page.touchpoints]
        assert [e["node"]["id"] for e in entity["web"]["edges"]] == [t.id for t in web.touchpoints]
        assert entity["web"]["totalCount"] == await store.count(customer_id, "web")


async def test_loaders_live_as_long_as_their_request():
    store = await _store()
    assert (await _entities(store, ["c9"]))[0]["all"]["totalCount"] == 0

    await handle_customer_events(
        [resolved("page", "late", "c9", name="Home", timestamp=at(9))], memory_ports(store)
    )

    assert (await _entities(store, ["c9"]))[0]["all"]["totalCount"] == 1
