from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.journey.adapters.in_memory import InMemoryJourneyStore
from services.journey.api.graph import JourneyContext, schema
from services.journey.handlers import handle_customer_events
from shared.auth import TokenVerifier, issue_token
from shared.bus.in_memory import InMemoryBus, InMemoryInbox
from shared.bus.ports import ConsumerSpec
from shared.events import CloudEvent
from shared.subgraph import AuthenticatedGraphQL
from tests.support.journey_ports import memory_ports
from tests.support.resolved_events import at, resolved

SECRET = "unit-secret-" + "x" * 32
TIMELINE = """query($r: [_Any!]!, $first: Int, $after: String, $channel: String) {
  _entities(representations: $r) { ... on Customer {
    timeline(first: $first, after: $after, channel: $channel) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { cursor node { id eventId type event channel timestamp properties } }
    }
    journeys { journeyId }
    frictions { id }
  } } }"""


def _events() -> list[CloudEvent]:
    return [
        resolved("page", "m1", "c1", name="Home", timestamp=at(9), context={"channel": "web"}),
        resolved("track", "m2", "c1", event="Product Viewed", timestamp=at(10)),
        resolved("track", "m3", "c1", event="Order Completed", timestamp=at(10)),
        resolved("page", "m4", "c1", name="Help", timestamp=at(11), context={"channel": "web"}),
        resolved("page", "m5", "c2", name="Home", timestamp=at(12)),
    ]


async def test_redelivered_events_leave_one_touchpoint_each():
    store = InMemoryJourneyStore()
    bus = InMemoryBus(inbox=InMemoryInbox())

    async def handler(batch):
        await handle_customer_events(batch, memory_ports(store))

    await bus.start(ConsumerSpec("journey.events", ("customer.event.#",), handler))
    await bus.publish(_events())
    await handle_customer_events(_events()[:2], memory_ports(store))  # a redelivery past the inbox
    await bus.drain()

    assert len(store.touchpoints) == 5
    assert await store.count("c1", None) == 4


@pytest.fixture
async def client():
    store = InMemoryJourneyStore()
    await handle_customer_events(_events(), memory_ports(store))

    async def context(request, principal):
        return JourneyContext(principal=principal, store=store)

    graphql = AuthenticatedGraphQL(schema, verifier=TokenVerifier(secret=SECRET), context=context)
    app = Starlette(routes=[Route("/graphql", graphql)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://journey"
    ) as http:
        yield http


async def _timeline(
    client: httpx.AsyncClient, scopes: tuple[str, ...] = ("customers:read",), **variables: Any
) -> Any:
    token = issue_token(SECRET, scopes)
    response = await client.post(
        "/graphql",
        json={
            "query": TIMELINE,
            "variables": {"r": [{"__typename": "Customer", "id": "c1"}], **variables},
        },
        headers={"authorization": f"Bearer {token}"},
    )
    return response.json()


async def test_timeline_pages_newest_first_until_the_end(client):
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await _timeline(client, first=2, after=after)
        timeline = body["data"]["_entities"][0]["timeline"]
        assert timeline["totalCount"] == 4
        seen.extend(edge["node"] for edge in timeline["edges"])
        if not timeline["pageInfo"]["hasNextPage"]:
            break
        after = timeline["pageInfo"]["endCursor"]

    assert [node["timestamp"][11:16] for node in seen] == ["11:00", "10:00", "10:00", "09:00"]
    assert len({node["id"] for node in seen}) == 4
    tied = [node["id"] for node in seen[1:3]]
    assert tied == sorted(tied, reverse=True)


async def test_timeline_filters_by_channel(client):
    body = await _timeline(client, channel="web")

    timeline = body["data"]["_entities"][0]["timeline"]
    assert timeline["totalCount"] == 2
    assert [e["node"]["event"] for e in timeline["edges"]] == ["Help", "Home"]
    assert timeline["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": timeline["edges"][-1]["cursor"],
    }


async def test_handled_events_place_the_customer_in_the_purchase_journey(client):
    customer = (await _timeline(client))["data"]["_entities"][0]

    assert customer["journeys"] == [{"journeyId": "purchase"}]
    assert customer["frictions"] == []


async def test_bad_cursor_is_a_user_input_error(client):
    body = await _timeline(client, after="garbage")

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_entities_need_customers_read(client):
    body = await _timeline(client, scopes=("pii:read",))

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
