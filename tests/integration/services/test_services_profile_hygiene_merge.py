"""Merging a suspected duplicate from the hygiene report, through the graph, on the real
database: the customers merge into the oldest, the merge log names the finding, and
neither the report nor later runs list it again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.profile.adapters.hygiene_ports import FindingResolution
from services.profile.adapters.in_memory_hygiene import InMemoryHygieneStore
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_hygiene import MongoHygieneStore
from services.profile.api.graph import ProfileContext, schema
from services.profile.domain.hygiene import CustomerFacts, HygienePolicy
from services.profile.domain.identity import Identity
from services.profile.handlers import handle_ingested
from services.profile.hygiene_schedule import HygieneSchedule, reconcile_once
from services.profile.ingest import ingest_event
from shared.auth import Principal, TokenVerifier, issue_token
from shared.bus.in_memory import InMemoryBus
from shared.events import parse_time
from shared.mongo import AsyncDatabase, Document
from shared.normalize import Receipt, normalize
from shared.subgraph import AuthenticatedGraphQL
from tests.integration.services.services_support import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
SECRET = "hygiene-merge-integration-secret-" + "x" * 32
SCHEDULE = HygieneSchedule(interval=timedelta(hours=1), policy=HygienePolicy())
ADDRESS = {"street": "12 Hauptstraße", "postalCode": "10115", "city": "Berlin", "country": "DE"}
REPORT = "{ hygieneReport { counts { kind count } findings { id kind customerIds reason } } }"
MERGE = """mutation($id: ID!, $reason: String) {
  mergeSuspectedDuplicate(findingId: $id, reason: $reason) }"""


@pytest.fixture
async def database(infra: Any) -> AsyncIterator[AsyncDatabase[Document]]:
    async with scratch_database(infra.mongodb_url, INDEXES) as db:
        yield db


def _identify(message_id: str, user_id: str, at: datetime, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": message_id,
        "userId": user_id,
        "timestamp": at.isoformat(),
        "traits": traits,
    }


async def _resolve(store: MongoProfileStore, messages: list[dict[str, Any]]) -> None:
    events = []
    for message in messages:
        received = parse_time(message["timestamp"]) + timedelta(minutes=1)
        normalized = normalize(message, Receipt(received_at=received, source="src-hygiene"))
        events.append(ingest_event(normalized, received, None))
    await handle_ingested(events, store=store, publisher=InMemoryBus())


async def _owner(store: MongoProfileStore, user_id: str) -> str:
    identity = Identity("user_id", user_id)
    return (await store.known([identity]))[identity].customer_id


class Graph:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.bus = InMemoryBus()
        self._database = database

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        async def context(request: Any, principal: Principal) -> ProfileContext:
            return ProfileContext(
                principal=principal,
                store=MongoProfileStore(self._database),
                publisher=self.bus,
                hygiene=MongoHygieneStore(self._database),
            )

        graphql = AuthenticatedGraphQL(
            schema, verifier=TokenVerifier(secret=SECRET), context=context
        )
        app = Starlette(routes=[Route("/graphql", graphql)])
        token = issue_token(SECRET, ["admin", "customers:read", "pii:read"], subject="ops-1")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://profile"
        ) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {token}"},
            )
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self(query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, **variables: Any) -> str:
        body = await self(query, **variables)
        assert body.get("data") is None, body
        message: str = body["errors"][0]["message"]
        return message


async def test_an_operator_merges_a_suspected_duplicate_from_the_hygiene_report(database):
    store = MongoProfileStore(database)
    await _resolve(
        store,
        [
            _identify("m1", "u-first", T0, email="ana@example.com", firstName="Ana",
                      lastName="Müller", address=ADDRESS),
            _identify("m2", "u-second", T0 + timedelta(days=3), email="ana.m@example.org",
                      firstName="ANA", lastName="Muller", address=ADDRESS),
            _identify("m3", "u-incomplete", T0, firstName="Jo"),
        ],
    )  # fmt: skip
    first, second = await _owner(store, "u-first"), await _owner(store, "u-second")
    hygiene = MongoHygieneStore(database)
    now = T0 + timedelta(days=4)
    assert await reconcile_once(hygiene, SCHEDULE, holder="w1", now=now) is not None
    graph = Graph(database)

    findings = (await graph.data(REPORT))["hygieneReport"]["findings"]
    duplicate = next(f for f in findings if f["kind"] == "suspected_duplicate")
    assert duplicate["customerIds"] == [first, second]
    merged = await graph.data(MERGE, id=duplicate["id"], reason="same person, checked by phone")
    assert merged == {"mergeSuspectedDuplicate": first}

    # One customer now: the second account's user id resolves to the oldest.
    assert await _owner(store, "u-second") == first
    log = (await store.merge_log(first))[0]
    assert (log.kind, log.caused_by, set(log.others)) == ("merged", "operator:ops-1", {second})
    assert duplicate["id"] in log.reason
    assert "same name and postal address" in log.reason
    assert "same person, checked by phone" in log.reason
    published = [e for e in graph.bus.published if e.type == "io.threadline.customer.merged"]
    assert [e.data["mergedIds"] for e in published] == [[second]]

    report = (await graph.data(REPORT))["hygieneReport"]
    assert [f["kind"] for f in report["findings"]] == ["missing_traits"]
    counts = {c["kind"]: c["count"] for c in report["counts"]}
    assert counts["suspected_duplicate"] == 0

    # Errors name the problem.
    again = await graph.error(MERGE, id=duplicate["id"])
    assert "already resolved" in again
    assert first in again
    missing = next(f for f in findings if f["kind"] == "missing_traits")
    assert "not a suspected duplicate" in await graph.error(MERGE, id=missing["id"])
    assert "no hygiene finding" in await graph.error(MERGE, id="nope:1")

    # The next run does not list the merged pair again.
    later = now + SCHEDULE.interval
    assert await reconcile_once(hygiene, SCHEDULE, holder="w2", now=later) is not None
    kinds = [f["kind"] for f in (await graph.data(REPORT))["hygieneReport"]["findings"]]
    assert kinds == ["missing_traits"]
    assert "no hygiene finding" in await graph.error(MERGE, id=duplicate["id"])


async def test_a_run_that_read_the_customers_before_the_merge_does_not_list_them_again():
    """The in-memory twin keeps serving the facts read before the merge (as a run that
    started before it would): the resolved finding's key keeps it out."""
    facts = [
        CustomerFacts("a", {"name": "Ana Muller", "phone": "+49301234567"}, first_seen=T0),
        CustomerFacts("b", {"name": "ana müller", "phone": "+49 30 1234567"}, first_seen=T0),
    ]
    hygiene = InMemoryHygieneStore(facts=facts)
    assert await reconcile_once(hygiene, SCHEDULE, holder="w", now=T0) is not None
    page = await hygiene.report("suspected_duplicate", 10, None)
    [finding_id] = page.finding_ids
    stored = await hygiene.finding(finding_id)
    assert stored is not None
    assert await hygiene.resolve(finding_id, FindingResolution("a", "ops", T0))
    assert not await hygiene.resolve(finding_id, FindingResolution("a", "ops", T0))
    assert (await hygiene.report(None, 10, None)).findings == []
    later = T0 + SCHEDULE.interval
    run = await reconcile_once(hygiene, SCHEDULE, holder="w", now=later)
    assert run is not None
    assert run.counts["suspected_duplicate"] == 0
    assert (await hygiene.report(None, 10, None)).findings == []
