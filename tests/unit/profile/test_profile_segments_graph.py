"""The segment and customer-list part of the profile subgraph, over the in-memory twins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.in_memory_directory import InMemoryCustomerDirectory
from services.profile.adapters.in_memory_segments import InMemorySegmentStore
from services.profile.api.graph import ProfileContext, schema
from services.profile.api.graph_segments import SegmentAccess
from services.profile.handlers import handle_ingested
from services.profile.segmenting import SegmentEngine
from shared.auth import Principal, TokenVerifier
from shared.bus.in_memory import InMemoryBus
from shared.subgraph import AuthenticatedGraphQL
from tests.unit.profile.profile_events import at, segment
from tests.unit.profile.test_profile_graph import SECRET, bearer

NOON = datetime(2026, 3, 1, 12, tzinfo=UTC)
SEARCH_TRAITS = ("name", "firstName")
CREATE = """mutation($name: String!, $c: JSON!) {
  createSegment(name: $name, condition: $c, description: "d") { id name version definition }
}"""
SEGMENT = """query($id: ID!, $after: String) { segment(id: $id) {
  id name version size definition job { status processed total progress }
  members(first: 1, after: $after) {
    edges { cursor customerId enteredAt customer { id traits } }
    pageInfo { hasNextPage endCursor } }
} }"""


class Graph:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, query: str, *scopes: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers=bearer(*scopes),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def world():
    profiles = InMemoryProfileStore()
    segments = InMemorySegmentStore(profiles)
    bus = InMemoryBus()
    engine = SegmentEngine(profiles, segments, bus, clock=lambda: NOON)
    people = [
        ("u1", "jo@example.com", "+49301234567", "Jo Smith", "pro"),
        ("u2", "al@example.com", "+14155550100", "Al Jones", "pro"),
        ("u3", "bo@example.com", None, "Bo Smith", "free"),
    ]
    for user, email, phone, name, plan in people:
        traits = {"email": email, "name": name, "plan": plan, **({"phone": phone} if phone else {})}
        await handle_ingested(
            [segment("identify", f"m-{user}", userId=user, traits=traits, timestamp=at(10))],
            store=profiles,
            publisher=bus,
            on_saved=engine.refresh,
        )

    async def context(request: Any, principal: Principal) -> ProfileContext:
        # Per request, as bootstrap builds it: the access's caches end with the request.
        access = SegmentAccess(
            store=segments,
            directory=InMemoryCustomerDirectory(profiles),
            search_traits=SEARCH_TRAITS,
            clock=lambda: NOON,
        )
        return ProfileContext(principal=principal, store=profiles, segments=access)

    graphql = AuthenticatedGraphQL(schema, verifier=TokenVerifier(secret=SECRET), context=context)
    app = Starlette(routes=[Route("/graphql", graphql)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        yield Graph(client), engine, profiles


def owner(profiles: InMemoryProfileStore, user: str) -> str:
    return next(r.customer_id for i, r in profiles.identity_docs.items() if i.value == user)


async def test_segment_lifecycle_through_the_graph(world):
    graph, engine, profiles = world
    created = await graph(CREATE, "admin", name="Pro", c={"trait": "plan", "eq": "pro"})
    segment_id = created["data"]["createSegment"]["id"]
    assert created["data"]["createSegment"]["version"] == 1

    pending = await graph(SEGMENT, "customers:read", id=segment_id)
    assert pending["data"]["segment"]["job"]["status"] == "pending"
    assert pending["data"]["segment"]["size"] == 0
    await engine.tick(NOON)

    first = (await graph(SEGMENT, "customers:read", id=segment_id))["data"]["segment"]
    assert first["size"] == 2
    assert first["job"] == {"status": "done", "processed": 3, "total": 3, "progress": 1.0}
    assert first["definition"] == {"trait": "plan", "eq": "pro"}
    assert first["members"]["pageInfo"]["hasNextPage"] is True
    edge = first["members"]["edges"][0]
    assert edge["customer"]["traits"]["email"] != "jo@example.com"  # masked without pii:read
    after = first["members"]["pageInfo"]["endCursor"]
    second = (await graph(SEGMENT, "customers:read", id=segment_id, after=after))["data"]
    members = [edge["customerId"], second["segment"]["members"]["edges"][0]["customerId"]]
    assert sorted(members) == sorted([owner(profiles, "u1"), owner(profiles, "u2")])
    assert second["segment"]["members"]["pageInfo"]["hasNextPage"] is False

    customer = await graph(
        "query($id: ID!) { customer(id: $id) { segments { segmentId name enteredAt } } }",
        "customers:read",
        id=owner(profiles, "u1"),
    )
    assert customer["data"]["customer"]["segments"] == [
        {"segmentId": segment_id, "name": "Pro", "enteredAt": "2026-03-01T12:00:00+00:00"}
    ]

    update = """mutation($id: ID!) { updateSegment(id: $id, condition: {trait: "plan", eq: "free"})
      { version } }"""
    assert (await graph(update, "admin", id=segment_id))["data"]["updateSegment"]["version"] == 2
    await engine.tick(NOON)
    listed = await graph("{ segments { id version size } }", "customers:read")
    assert listed["data"]["segments"] == [{"id": segment_id, "version": 2, "size": 1}]

    deleted = await graph("mutation($id: ID!) { deleteSegment(id: $id) }", "admin", id=segment_id)
    assert deleted["data"]["deleteSegment"] is True
    assert (await graph(SEGMENT, "customers:read", id=segment_id))["data"]["segment"] is None


async def test_invalid_condition_is_refused_with_the_paths_of_the_bad_nodes(world):
    graph, _, _ = world

    body = await graph(
        CREATE, "admin", name="Bad", c={"or": [{"trait": "plan"}, {"event": "x", "within": "P1Y"}]}
    )

    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert set(error["extensions"]["problems"]) == {"$.or[0]", "$.or[1].within"}
    assert "$.or[1].within: months and years have no fixed length" in error["message"]


async def test_segment_mutations_need_the_admin_scope(world):
    graph, _, _ = world

    body = await graph(CREATE, "customers:read", name="Pro", c={"identity": "email"})

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "admin" in body["errors"][0]["message"]


async def test_updating_an_unknown_segment_says_how_to_find_one(world):
    graph, _, _ = world

    body = await graph('mutation { updateSegment(id: "nope", name: "x") { id } }', "admin")

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "segments { id name }" in body["errors"][0]["message"]


CUSTOMERS = """query($search: String, $first: Int!, $after: String) {
  customers(search: $search, first: $first, after: $after) {
    edges { cursor node { id traits } } pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.parametrize(
    ("search", "users"),
    [
        (" JO@Example.com ", ["u1"]),  # an email, canonicalized as ingestion does
        ("+49 30 1234567", ["u1"]),  # a phone in another format
        ("u2", ["u2"]),  # a user id
        ("jO", ["u1"]),  # a name prefix, any case
        ("al j", ["u2"]),
        ("nobody", []),
    ],
)
async def test_customer_search_by_identity_value_or_name_prefix(world, search, users):
    graph, _, profiles = world

    body = await graph(CUSTOMERS, "customers:read", search=search, first=10)

    found = [edge["node"]["id"] for edge in body["data"]["customers"]["edges"]]
    assert found == sorted(owner(profiles, user) for user in users)


async def test_customer_list_pages_by_cursor_and_masks_pii(world):
    graph, _, profiles = world
    seen: list[str] = []
    after = None
    for _ in range(3):
        page = (await graph(CUSTOMERS, "customers:read", first=2, after=after))["data"]
        seen += [edge["node"]["id"] for edge in page["customers"]["edges"]]
        assert all("example.com" not in str(e["node"]["traits"]).split("***")[0]
                   for e in page["customers"]["edges"])  # fmt: skip
        after = page["customers"]["pageInfo"]["endCursor"]
        if not page["customers"]["pageInfo"]["hasNextPage"]:
            break
    assert seen == sorted(profiles.customer_docs)

    clear = await graph(CUSTOMERS, "customers:read", "pii:read", search="jo@example.com", first=1)
    assert clear["data"]["customers"]["edges"][0]["node"]["traits"]["email"] == "jo@example.com"


async def test_customer_list_needs_customers_read_and_refuses_foreign_cursors(world):
    graph, _, _ = world

    forbidden = await graph(CUSTOMERS, "pii:read", first=1)
    bad_cursor = await graph(CUSTOMERS, "customers:read", first=1, after="%%%")

    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "endCursor" in bad_cursor["errors"][0]["message"]
