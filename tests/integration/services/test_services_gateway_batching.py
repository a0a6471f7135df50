"""Through the gateway, a query naming 100 customers costs the profile a few database calls.

The three subgraphs run as their ``create_app`` builds them (their own MongoDB clients,
their per-request loaders) against a SecantusDB of this test's own, whose profiler
(``profile: 2``) records every operation per database: what it records while the gateway
answers one query is what that query cost each service.

The graph has no list of customers, so the query names them as 100 aliased ``customer``
fields. The profile resolves them in one request; the gateway's planner, though, sends
journey and scoring one ``_entities`` fetch per aliased path (it batches the objects of
one path, e.g. a list, not several paths), so their cost here grows with the aliases;
their per-request bound is checked in ``test_services_entity_batching``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.federation_engine import FederationEngine
from gateway.http import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.journey import bootstrap as journey
from services.journey.adapters.mongo import MongoJourneyStore
from services.journey.domain.touchpoints import Touchpoint
from services.profile import bootstrap as profile
from services.profile.adapters.mongo import MongoProfileStore
from services.profile.handlers import handle_ingested
from services.scoring import bootstrap as scoring
from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order
from services.scoring.domain.metrics import CustomerMetrics
from services.scoring.handlers.kpis import record_facts
from shared.auth import issue_token
from shared.bus.in_memory import InMemoryBus
from shared.mongo import Mongo
from shared.settings import Settings
from tests.integration.services.services_support import JWT_SECRET, serving, slice_settings
from tests.unit.profile.profile_events import at, segment
from threadline.devinfra import SecantusServer, free_port
from threadline.gatewayrun import compose_local

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS = 100
MAX_COMMANDS = 3
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
SERVICES = ("profile", "journey", "scoring")
FIELDS = """id identities { type value } timeline(first: 2) { totalCount edges { node { id } } }
  journeys { journeyId } frictions { id } scores { orders }"""


def token() -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(JWT_SECRET, ['customers:read', 'pii:read'])}"}


async def seed(settings: Settings, mongo: Mongo) -> list[str]:
    """100 identified customers, each with touchpoints and metrics; returns their ids
    (the customer of ``user-n`` at ``n``)."""
    profile_store = MongoProfileStore(mongo.database(settings.database_name("profile")))
    await handle_ingested(
        [
            segment("identify", f"m{n}", userId=f"user-{n}", anonymousId=f"anon-{n}",
                    traits={"plan": "pro"}, timestamp=at(10, n % 60))
            for n in range(CUSTOMERS)
        ],
        store=profile_store,
        publisher=InMemoryBus(),
    )  # fmt: skip
    identities = mongo.database(settings.database_name("profile"))["identities"]
    owners = {doc["value"]: doc["customerId"] async for doc in identities.find({"type": "user_id"})}
    ids = [str(owners[f"user-{n}"]) for n in range(CUSTOMERS)]
    await MongoJourneyStore(mongo.database(settings.database_name("journey"))).save_touchpoints(
        [
            Touchpoint(f"{cid}-{k}", cid, f"ingest-{cid}-{k}", "track", "product_viewed", "web",
                       T0 + timedelta(minutes=k), {})
            for cid in ids
            for k in range(3)
        ]
    )  # fmt: skip
    scoring_database = mongo.database(settings.database_name("scoring"))
    await MongoMetricsStore(scoring_database).save(
        [CustomerMetrics(cid, {"web": 3}, version=1) for cid in ids]
    )
    await record_facts(  # scores' orders are read from the KPI facts
        [
            Fact(KpiEvent(f"{cid}-o{k}", cid, "web", T0 + timedelta(minutes=k),
                          order=Order(f"{cid}-o{k}", Decimal(10), "USD")))
            for n, cid in enumerate(ids)
            for k in range(n % 4)
        ],
        store=MongoKpiStore(scoring_database),
    )  # fmt: skip
    return ids


@contextlib.asynccontextmanager
async def gateway_over_subgraphs(settings: Settings) -> AsyncIterator[str]:
    """The three subgraph apps and a gateway composed from them; yields its URL."""
    apps = {"profile": profile, "journey": journey, "scoring": scoring}
    ports = {name: getattr(settings, f"{name}_port") for name in apps}
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name, module in apps.items():
            served = serving(module.create_app(settings), ports[name])
            urls[name] = f"{await stack.enter_async_context(served)}/graphql"
        supergraph = await compose_local(urls, token(), wait_seconds=10)
        engine = FederationEngine(supergraph, urls)
        stack.push_async_callback(engine.aclose)
        limits = GatewaySettings(jwt_secret=JWT_SECRET, max_aliases=CUSTOMERS, max_cost=10**6)
        yield await stack.enter_async_context(serving(create_gateway(engine, limits), free_port()))


async def test_a_gateway_query_naming_100_customers_costs_the_profile_a_few_database_calls(
    infra: Any, secantus: SecantusServer
) -> None:
    # An operator who raises the gateway's alias limit raises the subgraphs' with it: the
    # gateway's subgraph operations carry up to two aliases per aliased client field.
    settings = slice_settings(infra, mongodb_url=secantus.url).model_copy(
        update={"graphql_max_aliases": 2 * CUSTOMERS}
    )
    mongo = Mongo(secantus.url)
    try:
        ids = await seed(settings, mongo)
        query = (
            "{ "
            + " ".join(f'c{n}: customer(id: "{cid}") {{ {FIELDS} }}' for n, cid in enumerate(ids))
            + " }"
        )
        databases = [mongo.database(settings.database_name(s)) for s in SERVICES]
        async with (
            gateway_over_subgraphs(settings) as gateway_url,
            httpx.AsyncClient(timeout=60.0) as http,
        ):
            for database in databases:
                await database.command("profile", 2)
            before = [await db["system.profile"].count_documents({}) for db in databases]
            response = await http.post(
                f"{gateway_url}/graphql", json={"query": query}, headers=token()
            )
            after = [await db["system.profile"].count_documents({}) for db in databases]
            calls = {
                service: [
                    doc["op"]
                    async for doc in db["system.profile"].find({}).sort("ts", 1).skip(start)
                ]
                for service, db, start in zip(SERVICES, databases, before, strict=True)
            }
            for database in databases:
                await database.command("profile", 0)
    finally:
        await mongo.close()

    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"][:3]
    for n, cid in enumerate(ids):
        customer = body["data"][f"c{n}"]
        assert customer["id"] == cid
        assert {i["value"] for i in customer["identities"]} == {f"user-{n}", f"anon-{n}"}
        assert customer["timeline"]["totalCount"] == 3
        assert [e["node"]["id"] for e in customer["timeline"]["edges"]] == [f"{cid}-2", f"{cid}-1"]
        assert customer["scores"] == {"orders": n % 4}
    profile_calls = after[0] - before[0]
    assert profile_calls <= MAX_COMMANDS, calls["profile"]
