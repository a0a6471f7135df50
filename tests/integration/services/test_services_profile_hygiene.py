"""Data hygiene on the real database: the store's contract (MongoDB and its in-memory twin),
and a reconciliation over customers the real profile handler resolved, read through the graph."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.profile import bootstrap as profile
from services.profile.adapters.hygiene_ports import (
    HygieneCursorError,
    HygieneRun,
    HygieneStore,
)
from services.profile.adapters.in_memory_hygiene import InMemoryHygieneStore
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_hygiene import MongoHygieneStore
from services.profile.api.graph import ProfileContext, schema
from services.profile.domain.hygiene import Finding, HygienePolicy
from services.profile.domain.identity import Identity
from services.profile.handlers import handle_ingested
from services.profile.hygiene_schedule import HygieneSchedule, reconcile_once
from services.profile.ingest import ingest_event
from shared.auth import Principal, TokenVerifier, issue_token
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent, parse_time
from shared.mongo import AsyncDatabase, Document, Mongo
from shared.normalize import Receipt, normalize
from shared.subgraph import AuthenticatedGraphQL
from tests.integration.services.services_support import (
    scratch_database,
    serving,
    slice_settings,
)
from threadline.simulation import simulate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(minutes=15)
SECRET = "hygiene-integration-secret-" + "x" * 32
SCHEDULE = HygieneSchedule(interval=timedelta(hours=1), policy=HygienePolicy())


@pytest.fixture(params=["mongodb", "in_memory"])
async def hygiene(request: Any, infra: Any) -> AsyncIterator[HygieneStore]:
    if request.param == "in_memory":
        yield InMemoryHygieneStore()
        return
    async with scratch_database(infra.mongodb_url) as database:
        yield MongoHygieneStore(database)


def run(run_id: str, at: datetime = T0) -> HygieneRun:
    return HygieneRun(run_id, at, customers=3, events=0, counts={"missing_traits": 3})


def missing(customer_id: str) -> Finding:
    return Finding("missing_traits", (customer_id,), "missing required traits: email")


async def test_one_claim_wins_until_the_run_is_published_and_the_next_is_due(hygiene):
    first = await hygiene.claim("p1", T0, LEASE)
    assert first is not None
    assert await hygiene.claim("p2", T0, LEASE) is None
    assert await hygiene.claim("p2", T0 + timedelta(minutes=1), LEASE) is None
    assert await hygiene.publish(
        run(first), [missing("a")], holder="p1", next_run_at=T0 + timedelta(hours=1)
    )
    assert await hygiene.claim("p2", T0 + timedelta(minutes=30), LEASE) is None
    assert await hygiene.claim("p2", T0 + timedelta(hours=1), LEASE) is not None


async def test_an_expired_lease_is_taken_over_and_the_old_holder_publishes_nothing(hygiene):
    stale = await hygiene.claim("p1", T0, LEASE)
    assert await hygiene.claim("p2", T0 + LEASE - timedelta(seconds=1), LEASE) is None
    fresh = await hygiene.claim("p2", T0 + LEASE, LEASE)
    assert stale is not None
    assert fresh is not None
    assert not await hygiene.publish(run(stale), [missing("x")], holder="p1", next_run_at=T0)
    assert (await hygiene.report(None, 10, None)).run is None
    assert await hygiene.publish(
        run(fresh, T0 + LEASE), [missing("a")], holder="p2", next_run_at=T0 + timedelta(hours=2)
    )
    page = await hygiene.report(None, 10, None)
    assert page.run == run(fresh, T0 + LEASE)
    assert page.findings == [missing("a")]


async def test_the_report_pages_by_kind_and_a_newer_run_replaces_it(hygiene):
    run_id = await hygiene.claim("p1", T0, LEASE)
    assert run_id is not None
    duplicate = Finding("suspected_duplicate", ("a", "b"), "same name and postal address")
    findings = [missing("a"), duplicate, missing("b"), missing("c")]
    await hygiene.publish(run(run_id), findings, holder="p1", next_run_at=T0)

    pages, after = [], None
    while True:
        page = await hygiene.report("missing_traits", 2, after)
        pages.append(list(page.findings))
        after = page.next_cursor
        if after is None:
            break
    assert pages == [[missing("a"), missing("b")], [missing("c")]]
    assert (await hygiene.report("suspected_duplicate", 10, None)).findings == [duplicate]
    cursor = (await hygiene.report(None, 1, None)).next_cursor
    assert cursor is not None

    newer = await hygiene.claim("p2", T0 + timedelta(minutes=1), LEASE)
    assert newer is not None
    await hygiene.publish(run(newer), [missing("z")], holder="p2", next_run_at=T0)
    assert (await hygiene.report(None, 10, None)).findings == [missing("z")]
    with pytest.raises(HygieneCursorError, match="omit `after`"):
        await hygiene.report(None, 10, cursor)


@pytest.fixture
async def database(infra: Any) -> AsyncIterator[AsyncDatabase[Document]]:
    async with scratch_database(infra.mongodb_url, INDEXES) as db:
        yield db


def ingested(message: dict[str, Any], received_at: datetime) -> CloudEvent:
    normalized = normalize(message, Receipt(received_at=received_at, source="src-hygiene"))
    return ingest_event(normalized, received_at, None)


async def resolve(store: MongoProfileStore, events: list[CloudEvent]) -> None:
    for start in range(0, len(events), 200):
        await handle_ingested(events[start : start + 200], store=store, publisher=InMemoryBus())


async def owner(store: MongoProfileStore, kind: str, value: str) -> str:
    identity = Identity(kind, value)
    return (await store.known([identity]))[identity].customer_id


ADDRESS = {"street": "12 Hauptstraße", "postalCode": "10115", "city": "Berlin", "country": "DE"}


def _identify(message_id: str, user_id: str, at: datetime, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": message_id,
        "userId": user_id,
        "timestamp": at.isoformat(),
        "traits": traits,
    }


async def test_a_reconciliation_over_resolved_customers_is_served_by_the_graph(database):
    store = MongoProfileStore(database)
    hygiene = MongoHygieneStore(database)
    messages = [
        _identify("m1", "u-first", T0, email="ana@example.com", firstName="Ana",
                  lastName="Müller", address=ADDRESS),
        # The same person's second account, days later: another user id and email.
        _identify("m2", "u-second", T0 + timedelta(days=3), email="ana.m@example.org",
                  firstName="ANA", lastName="Muller", address={**ADDRESS, "city": "berlin"}),
        _identify("m3", "u-incomplete", T0, firstName="Jo"),
    ]  # fmt: skip
    events = [ingested(m, parse_time(m["timestamp"]) + timedelta(minutes=1)) for m in messages]
    # A device whose clock runs two hours ahead of the collector's.
    skewed = {"type": "track", "messageId": "m4", "userId": "u-incomplete", "event": "Tapped",
              "timestamp": (T0 + timedelta(hours=2)).isoformat()}  # fmt: skip
    events.append(ingested(skewed, T0))
    await resolve(store, events)
    first, second = (
        await owner(store, "user_id", "u-first"),
        await owner(store, "user_id", "u-second"),
    )
    incomplete = await owner(store, "user_id", "u-incomplete")

    now = T0 + timedelta(days=4)
    result = await reconcile_once(hygiene, SCHEDULE, holder="worker-1", now=now)
    assert result is not None
    assert (result.customers, result.events) == (3, 4)

    query = "{ hygieneReport { runId findings { kind customerIds reason eventIds } } }"
    report = await _graph(database, query)
    assert report["runId"] == result.id
    findings = {(f["kind"], tuple(f["customerIds"]), f["reason"]) for f in report["findings"]}
    assert findings == {
        ("suspected_duplicate", (first, second), "same name and postal address"),
        ("missing_traits", (incomplete,), "missing required traits: email"),
        ("timestamp_anomaly", (incomplete,),
         "events timed more than 10 minutes after receipt (1 event)"),
    }  # fmt: skip
    anomaly = next(f for f in report["findings"] if f["kind"] == "timestamp_anomaly")
    assert anomaly["eventIds"] == [events[3].id]
    # Not due again before the interval, whichever process asks.
    assert await reconcile_once(hygiene, SCHEDULE, holder="worker-2", now=now) is None


async def _graph(database: AsyncDatabase[Document], query: str) -> dict[str, Any]:
    async def context(request: Any, principal: Principal) -> ProfileContext:
        return ProfileContext(
            principal=principal,
            store=MongoProfileStore(database),
            hygiene=MongoHygieneStore(database),
        )

    graphql = AuthenticatedGraphQL(schema, verifier=TokenVerifier(secret=SECRET), context=context)
    app = Starlette(routes=[Route("/graphql", graphql)])
    token = issue_token(SECRET, ["admin"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        response = await client.post(
            "/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"}
        )
    body = response.json()
    assert "errors" not in body, body
    report: dict[str, Any] = body["data"]["hygieneReport"]
    return report


@pytest.mark.slow
async def test_second_accounts_the_rules_left_apart_are_reported_as_suspected_duplicates(
    database,
):
    """Against the simulator's ground truth: every person whose two accounts are still two
    customers after resolution appears in a suspected-duplicate finding with both."""
    simulation = simulate(40, seed=1)
    received = simulation.payloads[-1]["timestamp"]
    receipt = parse_time(received) + timedelta(minutes=5)
    store = MongoProfileStore(database)
    await resolve(store, [ingested(p, receipt) for p in simulation.payloads])
    hygiene = MongoHygieneStore(database)
    result = await reconcile_once(hygiene, SCHEDULE, holder="w", now=receipt)
    assert result is not None
    suspected = [
        set(f.customer_ids)
        for f in (await hygiene.report("suspected_duplicate", 1000, None)).findings
    ]
    user_ids = {p.get("userId") for p in simulation.payloads}
    pairs = [(a, b) for a, b in simulation.duplicate_accounts() if b in user_ids]
    assert pairs
    for first_user, second_user in pairs:
        first, second = (
            await owner(store, "user_id", first_user),
            await owner(store, "user_id", second_user),
        )
        if first != second:
            assert any({first, second} <= found for found in suspected), (first_user, second_user)
    # Customers merged into another stay as documents pointing at their survivor; the
    # reconciliation reads the living ones.
    customers = await database["customers"].count_documents({"mergedInto": {"$exists": False}})
    assert result.customers == customers >= simulation.persons


@pytest.mark.parametrize("process", ["worker", "api_with_worker"])
async def test_profile_processes_with_a_worker_run_the_hygiene_schedule(infra, process):
    settings = slice_settings(infra, hygiene_interval_seconds=0.5)
    started = datetime.now(UTC).replace(microsecond=0)
    mongo = Mongo(infra.mongodb_url)
    schedule = mongo.database(settings.database_name("profile"))["hygiene_schedule"]
    # The profile database is shared by the whole suite: start from no schedule at all, as
    # a fresh deployment does (a process of an earlier test may have set the next run).
    await schedule.delete_many({})

    async def reconciled() -> bool:
        doc = await schedule.find_one({"_id": "reconciliation"})
        current = (doc or {}).get("current") or {}
        return bool(current) and current["generatedAt"] >= started

    try:
        if process == "worker":
            stop = asyncio.Event()
            worker = asyncio.create_task(profile.run_worker(settings, stop))
            try:
                await _eventually(reconciled)
            finally:
                stop.set()
                await worker
        else:
            app = profile.create_app(settings, with_worker=True)
            async with serving(app, settings.profile_port):
                await _eventually(reconciled)
    finally:
        await mongo.close()


async def _eventually(check: Any, seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "no hygiene run was published"
        await asyncio.sleep(0.2)
