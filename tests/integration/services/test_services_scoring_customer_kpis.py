"""Per-customer KPIs, historical CLV and the orders and revenue of ``Customer.scores``,
through the graph over the real stores (and the real consumer for resolved events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.models import MongoModelStore
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.api.graph import ScoringContext, schema
from services.scoring.bootstrap import INDEXES
from services.scoring.config import ScoringConfig
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore
from services.scoring.domain.kpis import Period, kpis_for
from services.scoring.handlers.kpis import handle_merged, record_facts
from services.scoring.worker import ScoringPorts, events_consumer
from shared.auth import Principal
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from tests.integration.services.services_support import scratch_database, slice_settings
from tests.support.resolved_events import at, resolved

pytestmark = pytest.mark.integration

READER = Principal(subject="reader", scopes=frozenset({"customers:read"}))
T0 = datetime(2026, 1, 5, tzinfo=UTC)
CONFIG = ScoringConfig(rates=ExchangeRates("USD", {"EUR": Decimal("1.1")}))


class CountingKpiStore(MongoKpiStore):
    """The real store, recording which customers each facts read asked for."""

    reads: list[list[str]]

    async def customer_facts(self, ids: Iterable[str]) -> dict[str, list[Fact]]:
        asked = list(ids)
        self.reads.append(asked)
        return await super().customer_facts(asked)


@dataclass
class Scoring:
    kpis: CountingKpiStore
    models: MongoModelStore
    metrics: MongoMetricsStore

    async def ask(self, query: str, **variables: Any) -> dict[str, Any]:
        context = ScoringContext(READER, self.metrics, self.kpis, self.models, CONFIG)
        result = await schema.execute(query, variable_values=variables, context_value=context)
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data


@pytest.fixture
async def scoring(infra) -> AsyncIterator[Scoring]:
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = CountingKpiStore(database)
        store.reads = []
        yield Scoring(store, MongoModelStore(database), MongoMetricsStore(database))


def _fact(event_id: str, customer: str, hours: int, **what: Any) -> Fact:
    return Fact(KpiEvent(event_id, customer, "web", T0 + timedelta(hours=hours), **what))


HISTORIES = [
    _fact("a1", "ana", 1, order=Order("o1", Decimal(30), "USD")),
    _fact("a2", "ana", 30, order=Order("o2", Decimal(10), "EUR")),
    _fact("a3", "ana", 31, survey=SurveyScore("nps", 10)),
    _fact("b1", "bo", 2, order=Order("o3", Decimal(20), "USD")),
    _fact("b2", "bo", 80, order=Order("o4", Decimal(5), "USD")),  # after the period
    _fact("c1", "cy", 3),
]


async def test_company_kpis_serve_historical_clv_as_revenue_per_purchasing_customer(scoring):
    await record_facts(HISTORIES, store=scoring.kpis)
    query = """query($f: DateTime!, $t: DateTime!) { kpis(from: $f, to: $t) {
      customers orders revenue customersWithOrder purchaseFrequency historicalClv } }"""

    found = (await scoring.ask(query, f=T0.isoformat(), t=(T0 + timedelta(days=2)).isoformat()))[
        "kpis"
    ]

    # 30 + 10 EUR × 1.1 + 20 = 61 USD from ana and bo; cy bought nothing.
    assert found == {
        "customers": 3,
        "orders": 3,
        "revenue": 61.0,
        "customersWithOrder": 2,
        "purchaseFrequency": 1.5,
        "historicalClv": 30.5,
    }


CUSTOMER_KPIS = """query($r: [_Any!]!, $f: DateTime!, $t: DateTime!) {
  _entities(representations: $r) { ... on Customer { id scores { kpis(from: $f, to: $t) {
    customers orders revenue aov conversionRate repeatPurchaseRate purchaseFrequency
    historicalClv nps } } } } }"""


async def test_each_customers_kpis_are_their_own_report_read_in_one_batch(scoring):
    await record_facts(HISTORIES, store=scoring.kpis)
    await handle_merged({"customerId": "ana", "mergedIds": ["anon"]}, store=scoring.kpis)
    ids = ["ana", "bo", "cy", "nobody", "anon"]
    start, end = T0 + timedelta(minutes=30), T0 + timedelta(hours=40)  # any instants
    scoring.kpis.reads.clear()  # recording and merging read facts too

    data = await scoring.ask(
        CUSTOMER_KPIS,
        r=[{"__typename": "Customer", "id": i} for i in ids],
        f=start.isoformat(),
        t=end.isoformat(),
    )

    served = {e["id"]: e["scores"]["kpis"] for e in data["_entities"]}
    assert served["ana"] == {
        "customers": 1,
        "orders": 2,
        "revenue": 41.0,
        "aov": 20.5,
        "conversionRate": 1.0,
        "repeatPurchaseRate": 1.0,
        "purchaseFrequency": 2.0,
        "historicalClv": 41.0,
        "nps": 100.0,
    }
    assert served["anon"] == served["ana"]  # a merged id answers with its survivor
    assert (served["bo"]["orders"], served["bo"]["historicalClv"]) == (1, 20.0)
    assert (served["cy"]["customers"], served["cy"]["historicalClv"]) == (1, None)
    assert served["nobody"]["customers"] == 0
    for customer in ("ana", "bo", "cy"):
        mine = [f.event for f in HISTORIES if f.event.customer_id == customer]
        oracle = kpis_for({customer: mine}, Period(start, end), CONFIG.rates)
        assert served[customer]["orders"] == oracle.orders
        assert served[customer]["revenue"] == float(oracle.revenue)
    assert len(scoring.kpis.reads) == 1  # one facts read for the whole request
    assert sorted(scoring.kpis.reads[0]) == ["ana", "ana", "bo", "cy", "nobody"]


async def test_customer_kpis_refuse_an_empty_period_and_name_a_missing_rate(scoring):
    await record_facts(
        [_fact("y1", "yen", 1, order=Order("o9", Decimal(900), "JPY"))], store=scoring.kpis
    )
    context = ScoringContext(READER, scoring.metrics, scoring.kpis, scoring.models, CONFIG)

    async def ask(start: datetime, end: datetime) -> Any:
        variables = {
            "r": [{"__typename": "Customer", "id": "yen"}],
            "f": start.isoformat(),
            "t": end.isoformat(),
        }
        return await schema.execute(CUSTOMER_KPIS, variable_values=variables, context_value=context)

    backwards = await ask(T0 + timedelta(days=1), T0)
    no_rate = await ask(T0, T0 + timedelta(days=1))

    assert backwards.errors
    assert "is not before to" in backwards.errors[0].message
    assert no_rate.errors
    assert "no exchange rate from JPY to USD" in no_rate.errors[0].message
    assert no_rate.data is not None
    assert no_rate.data["_entities"][0]["scores"]["kpis"] is None


SCORES = """query($id: ID!) { _entities(representations: [{__typename: "Customer", id: $id}]) {
  ... on Customer { scores { orders revenue { amount currency } notes } } } }"""


def _order(message_id: str, hour: int, **properties: Any) -> CloudEvent:
    return resolved(
        "track",
        message_id,
        "dee",
        event="Order Completed",
        properties=properties,
        timestamp=at(hour),
    )


async def _consume(infra: Any, scoring: Scoring, *batches: list[CloudEvent]) -> dict[str, Any]:
    """Each batch through the real ``scoring.events`` handler, then ``dee``'s scores."""
    bus = await Bus.connect(slice_settings(infra), source="threadline/scoring")
    try:
        ports = ScoringPorts(scoring.metrics, scoring.kpis, scoring.models, bus, CONFIG)
        handle = events_consumer(ports).handler
        for batch in batches:
            await handle(batch)
    finally:
        await bus.close()
    scores: dict[str, Any] = (await scoring.ask(SCORES, id="dee"))["_entities"][0]["scores"]
    return scores


async def test_scores_count_an_order_resent_under_a_new_event_id_once(infra, scoring):
    scores = await _consume(
        infra,
        scoring,
        [_order("m1", 9, order_id="o1", revenue="25.50", currency="EUR")],
        # The shop sends the same order again under a new message id: a new event id.
        [_order("m1-resent", 10, order_id="o1", revenue="25.50", currency="EUR")],
    )

    assert scores["orders"] == 1
    assert scores["revenue"] == [{"amount": "25.50", "currency": "EUR"}]
    assert "1 orders completed, revenue 25.50 EUR." in scores["notes"]


async def test_scores_count_the_revenue_of_an_order_that_states_only_a_total(infra, scoring):
    scores = await _consume(
        infra,
        scoring,
        [_order("m1", 9, order_id="o1", revenue="25.50", currency="EUR")],
        [_order("m2", 11, order_id="o2", total="40", currency="USD")],
    )

    assert scores["orders"] == 2
    assert scores["revenue"] == [
        {"amount": "25.50", "currency": "EUR"},
        {"amount": "40", "currency": "USD"},
    ]
