"""A list of customers costs each subgraph a bounded number of database calls (issue 2, 6).

Each subgraph resolves ``_entities`` for N ``Customer`` representations against the real
database; a pymongo command listener on the client the test builds counts the commands
the request sends. The bound holds for 10 and for 100 customers alike, and the answers
are those the store's one-customer reads give (the oracle).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from services.journey.adapters import mongo as journey_mongo
from services.journey.adapters.mongo import MongoJourneyStore
from services.journey.api.graph import JourneyContext
from services.journey.api.graph import schema as journey_schema
from services.journey.domain.touchpoints import Touchpoint
from services.profile.adapters import mongo as profile_mongo
from services.profile.adapters.mongo import MongoProfileStore
from services.profile.api.graph import ProfileContext
from services.profile.api.graph import schema as profile_schema
from services.profile.handlers import handle_ingested
from services.scoring import bootstrap as scoring_bootstrap
from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.api.graph import ScoringContext
from services.scoring.api.graph import schema as scoring_schema
from services.scoring.domain.customer_orders import order_totals
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order
from services.scoring.domain.metrics import CustomerMetrics, SurveyAnswer
from services.scoring.handlers.kpis import record_facts
from shared.auth import Principal
from shared.bus.in_memory import InMemoryBus
from shared.mongo import Document, Mongo
from tests.integration.services.services_support import unique
from tests.unit.profile.profile_events import at, segment

pytestmark = pytest.mark.integration

MAX_COMMANDS = 3
READER = Principal(subject="batching-test", scopes=frozenset({"customers:read", "pii:read"}))
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { %s } } }"


@dataclass
class CommandLog(monitoring.CommandListener):
    """Names of the commands sent to ``database`` since the last :meth:`clear`."""

    database: str
    commands: list[str] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database:
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.commands.clear()


@dataclass
class Counted:
    """A scratch database reached through a client whose commands are counted."""

    client: AsyncMongoClient[Document]
    log: CommandLog

    @property
    def database(self) -> Any:
        return self.client[self.log.database]


@pytest.fixture
async def counted(infra, request) -> AsyncIterator[Counted]:
    indexes = request.param
    name = unique("batching")
    log = CommandLog(name)
    setup = Mongo(infra.mongodb_url)
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        infra.mongodb_url, tz_aware=True, event_listeners=[log]
    )
    try:
        await setup.ensure_indexes(name, indexes)
        yield Counted(client, log)
    finally:
        await client.close()
        await setup.client.drop_database(name)
        await setup.close()


async def entities(schema: Any, context: Any, ids: list[str], selection: str) -> list[Any]:
    result = await schema.execute(
        ENTITIES % selection,
        variable_values={"r": [{"__typename": "Customer", "id": cid} for cid in ids]},
        context_value=context,
    )
    assert result.errors is None, result.errors
    found: list[Any] = result.data["_entities"]
    return found


@pytest.mark.parametrize("customers", [10, 100])
@pytest.mark.parametrize("counted", [profile_mongo.INDEXES], indirect=True)
async def test_profile_entities_cost_a_bounded_number_of_database_calls(counted, customers):
    store = MongoProfileStore(counted.database)
    run = unique("b")
    await handle_ingested(
        [
            segment(
                "identify",
                f"{run}-{n}",
                userId=f"{run}-user-{n}",
                anonymousId=f"{run}-anon-{n}",
                traits={"email": f"c{n}@example.com", "plan": "pro"},
                timestamp=at(10, n % 60),
            )
            for n in range(customers)
        ],
        store=store,
        publisher=InMemoryBus(),
    )
    ids = [str(doc["_id"]) async for doc in counted.database[profile_mongo.CUSTOMERS].find()]
    assert len(ids) == customers
    ids.append("no-such-customer")

    counted.log.clear()
    found = await entities(
        profile_schema,
        ProfileContext(principal=READER, store=store),
        ids,
        "id traits identities { type value }",
    )

    assert len(counted.log.commands) <= MAX_COMMANDS, counted.log.commands
    assert found[-1] is None
    oracle = await store.customers(ids)
    for customer_id, entity in zip(ids[:-1], found[:-1], strict=True):
        assert entity["id"] == customer_id
        assert entity["traits"] == {k: t.value for k, t in oracle[customer_id].traits.items()}
        expected = [
            {"type": r.identity.type, "value": r.identity.value}
            for r in await store.identities(customer_id)
        ]
        assert entity["identities"] == expected
        assert len(expected) == 3


TIMELINE = """id
  timeline(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } }
  journeys { journeyId stage }
  frictions { id kind }"""


@pytest.mark.parametrize("customers", [10, 100])
@pytest.mark.parametrize("counted", [journey_mongo.INDEXES], indirect=True)
async def test_journey_entities_cost_a_bounded_number_of_database_calls(counted, customers):
    store = MongoJourneyStore(counted.database)
    ids = [f"c{n}" for n in range(customers)]
    await store.save_touchpoints(
        [
            Touchpoint(
                id=f"{cid}-t{k}",
                customer_id=cid,
                event_id=f"ingest-{cid}-{k}",
                kind="track",
                name="product_viewed",
                channel="web" if k % 2 else "email",
                timestamp=T0 + timedelta(minutes=k),
                properties={},
            )
            for n, cid in enumerate(ids)
            for k in range(n % 4)  # 0 to 3 touchpoints: some pages end, some go on
        ]
    )
    await counted.database[journey_mongo.PROGRESS].insert_many(
        [
            {"customerId": cid, "journeyId": "onboarding", "stage": "active", "enteredAt": T0}
            for cid in ids
        ]
    )
    await counted.database[journey_mongo.FRICTIONS].insert_many(
        [
            {"_id": f"{cid}-f{k}", "customerId": cid, "kind": "repeat_contact",
             "detectedAt": T0 + timedelta(hours=k)}
            for cid in ids
            for k in range(2)
        ]
    )  # fmt: skip

    counted.log.clear()
    found = await entities(journey_schema, JourneyContext(READER, store), ids, TIMELINE)

    assert len(counted.log.commands) <= MAX_COMMANDS, counted.log.commands
    for customer_id, entity in zip(ids, found, strict=True):
        page = await store.timeline(customer_id, first=2, after=None, channel=None)
        timeline = entity["timeline"]
        assert timeline["totalCount"] == await store.count(customer_id, None)
        assert [e["node"]["id"] for e in timeline["edges"]] == [t.id for t in page.touchpoints]
        assert timeline["pageInfo"]["hasNextPage"] == page.has_next
        assert entity["journeys"] == [
            {"journeyId": p.journey_id, "stage": p.stage} for p in await store.journeys(customer_id)
        ]
        assert entity["frictions"] == [
            {"id": f.id, "kind": f.kind} for f in await store.frictions(customer_id)
        ]


@pytest.mark.parametrize("customers", [10, 100])
@pytest.mark.parametrize("counted", [scoring_bootstrap.INDEXES], indirect=True)
async def test_scoring_entities_cost_a_bounded_number_of_database_calls(counted, customers):
    store = MongoMetricsStore(counted.database)
    kpis = MongoKpiStore(counted.database)
    ids = [f"c{n}" for n in range(customers)]
    await store.save(
        [
            CustomerMetrics(
                customer_id=cid,
                events_by_channel={"web": n + 1},
                surveys={"nps": SurveyAnswer("nps", Decimal(n % 11), T0, f"e{n}")},
                version=1,
            )
            for n, cid in enumerate(ids[:-1])  # the last one has no metrics yet
        ]
    )
    await record_facts(  # orders and revenue are read from the KPI facts
        [
            Fact(KpiEvent(f"e{n}-{k}", cid, "web", T0 + timedelta(hours=k),
                          order=Order(f"o{n}-{k}", Decimal(n) * 10, "USD")))
            for n, cid in enumerate(ids[:-1])
            for k in range(n % 3)
        ],
        store=kpis,
    )  # fmt: skip

    counted.log.clear()
    found = await entities(
        scoring_schema,
        ScoringContext(READER, store, kpis),
        ids,
        "id scores { nps orders revenue { amount currency } "
        f'kpis(from: "{T0.isoformat()}", to: "{T0 + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}") '
        "{ orders } }",
    )

    assert len(counted.log.commands) <= MAX_COMMANDS, counted.log.commands
    oracle = await kpis.customer_facts(ids)
    for customer_id, entity in zip(ids, found, strict=True):
        bought = order_totals(f.event for f in oracle[customer_id])
        assert entity["scores"]["orders"] == bought.orders
        assert entity["scores"]["kpis"]["orders"] == bought.orders
        assert entity["scores"]["revenue"] == [
            {"amount": str(amount), "currency": currency}
            for currency, amount in bought.revenue.items()
        ]
    assert found[-1]["scores"]["orders"] == 0
    assert {"nps": None, "revenue": []}.items() <= found[-1]["scores"].items()
