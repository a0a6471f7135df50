"""The scoring graph over the real stores: CLV fit and model, composite explanations, KPIs
with trends, and ``score.changed`` published once per crossing through RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Sequence
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
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore, TicketUpdate
from services.scoring.handlers.kpis import record_facts
from services.scoring.worker import ScoringPorts, events_consumer
from shared.auth import Principal
from shared.bus.ports import ConsumerSpec
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent
from tests.integration.services.services_support import scratch_database, slice_settings
from tests.support.resolved_events import resolved

pytestmark = pytest.mark.integration

READER = Principal(subject="reader", scopes=frozenset({"customers:read"}))
ADMIN = Principal(subject="operator", scopes=frozenset({"admin", "customers:read"}))
T0 = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class Scoring:
    kpis: MongoKpiStore
    models: MongoModelStore
    metrics: MongoMetricsStore

    def context(self, principal: Principal) -> ScoringContext:
        return ScoringContext(principal, self.metrics, self.kpis, self.models, ScoringConfig())

    async def ask(
        self, query: str, principal: Principal = READER, **variables: Any
    ) -> dict[str, Any]:
        result = await schema.execute(
            query, variable_values=variables, context_value=self.context(principal)
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data


@pytest.fixture
async def scoring(infra) -> AsyncIterator[Scoring]:
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        yield Scoring(
            MongoKpiStore(database), MongoModelStore(database), MongoMetricsStore(database)
        )


def purchases(customers: int, seed: int = 7) -> list[Fact]:
    """Customers buying every few weeks for a while, then some of them stopping."""
    rng = random.Random(seed)
    facts = []
    for c in range(customers):
        at = T0 + timedelta(days=rng.randint(0, 60))
        stop = T0 + timedelta(days=rng.randint(30, 300))
        n = 0
        while at < stop:
            amount = Decimal(rng.randint(10, 90))
            facts.append(
                Fact(
                    KpiEvent(
                        f"e{c}-{n}", f"c{c}", "web", at, order=Order(f"o{c}-{n}", amount, "USD")
                    )
                )
            )
            at += timedelta(days=rng.randint(5, 40))
            n += 1
    return facts


ENTITY = """query($id: ID!, $days: Int) {
  _entities(representations: [{__typename: "Customer", id: $id}]) {
  ... on Customer { scores { nps ies cpi clv pAlive churnRisk expectedPurchases
    soon: expectedPurchases(days: $days)
    iesDetail { version score components { contribution } }
    cpiDetail { version score components { contribution } }
    explanations { model version kpi contribution } } } } }"""

FIT = """mutation($asOf: DateTime) { fitClvModel(asOf: $asOf) {
  version r alpha a b p q gamma customers timeUnit asOf purchaseFit { converged } } }"""


async def test_fit_clv_model_stores_a_version_that_clv_model_and_customer_scores_serve(scoring):
    bought = purchases(80)
    await record_facts(bought, store=scoring.kpis)
    as_of = T0 + timedelta(days=365)

    fitted = (await scoring.ask(FIT, ADMIN, asOf=as_of.isoformat()))["fitClvModel"]
    current = (await scoring.ask("{ clvModel { version r alpha a b p q gamma customers } }"))[
        "clvModel"
    ]
    scores = (await scoring.ask(ENTITY, id="c3", days=30))["_entities"][0]["scores"]

    assert fitted["version"] == 1
    assert fitted["customers"] == len({f.event.customer_id for f in bought})
    assert fitted["timeUnit"] == "week"
    assert fitted["purchaseFit"]["converged"]
    assert all(fitted[k] > 0 for k in ("r", "alpha", "a", "b", "p", "q", "gamma"))
    assert current == {k: fitted[k] for k in current}
    assert 0 < scores["pAlive"] <= 1
    assert scores["churnRisk"] == pytest.approx(1 - scores["pAlive"])
    assert scores["clv"] >= 0
    assert 0 <= scores["soon"] < scores["expectedPurchases"]


async def test_fit_clv_model_needs_the_admin_scope_and_purchases(scoring):
    refused = await schema.execute(FIT, variable_values={}, context_value=scoring.context(READER))
    empty = await schema.execute(FIT, variable_values={}, context_value=scoring.context(ADMIN))

    assert refused.errors
    assert "admin" in refused.errors[0].message
    assert empty.errors
    assert "at least 2 customers" in empty.errors[0].message


DEFINE = """mutation($c: [CompositeComponentInput!]!) { defineCompositeModel(name: "ies",
  version: "ies-2", components: $c) { name version current components { kpi weight rule } } }"""


async def test_ies_and_cpi_explanations_add_up_to_the_scores_through_the_graph(scoring):
    def event(n: int, hours: int, **facts: Any) -> Fact:
        return Fact(KpiEvent(f"x{n}", "c1", "chat", T0 + timedelta(hours=hours), **facts))

    await record_facts(
        [
            event(1, 1, survey=SurveyScore("nps", 9)),
            event(2, 2, survey=SurveyScore("csat", 4)),
            event(3, 3, ticket=TicketUpdate("t1", "opened")),
            event(4, 9, ticket=TicketUpdate("t1", "resolved")),
            event(5, 30, survey=SurveyScore("nps", 4)),
            *purchases(40),
        ],
        store=scoring.kpis,
    )
    await scoring.ask(FIT, ADMIN, asOf=(T0 + timedelta(days=365)).isoformat())
    components = [
        {"kpi": "nps", "weight": 0.5, "low": -100, "high": 100},
        {
            "kpi": "avg_resolution_hours",
            "weight": 0.5,
            "low": 0,
            "high": 24,
            "higherIsBetter": False,
        },
    ]
    defined = (await scoring.ask(DEFINE, ADMIN, c=components))["defineCompositeModel"]

    scores = (await scoring.ask(ENTITY, id="c1", days=30))["_entities"][0]["scores"]
    company = (
        await scoring.ask(
            """query($f: DateTime!, $t: DateTime!) { experienceScores(from: $f, to: $t) {
              ies { version score components { contribution } }
              cpi { score components { contribution } } } }""",
            f=T0.isoformat(),
            t=(T0 + timedelta(days=7)).isoformat(),
        )
    )["experienceScores"]

    assert defined["current"]
    assert defined["version"] == "ies-2"
    assert scores["nps"] == 4  # the latest answer
    assert scores["iesDetail"]["version"] == "ies-2"
    for detail, value in (
        (scores["iesDetail"], scores["ies"]),
        (scores["cpiDetail"], scores["cpi"]),
    ):
        assert sum(c["contribution"] for c in detail["components"]) == pytest.approx(value)
    by_model: dict[str, float] = {}
    for part in scores["explanations"]:
        by_model[part["model"]] = by_model.get(part["model"], 0.0) + part["contribution"]
    assert by_model == {"ies": pytest.approx(scores["ies"]), "cpi": pytest.approx(scores["cpi"])}
    for answer in company.values():
        assert sum(c["contribution"] for c in answer["components"]) == pytest.approx(
            answer["score"]
        )
    assert company["ies"]["version"] == "ies-2"


async def test_a_composite_model_with_weights_not_summing_to_one_is_refused(scoring):
    bad = [{"kpi": "nps", "weight": 0.5, "low": -100, "high": 100}]
    result = await schema.execute(
        DEFINE, variable_values={"c": bad}, context_value=scoring.context(ADMIN)
    )

    assert result.errors
    assert "weights sum to 0.5, not 1" in result.errors[0].message


async def test_kpis_answer_with_trends_and_refuse_periods_off_midnight(scoring):
    await record_facts(
        [
            Fact(KpiEvent(f"k{d}", f"c{d % 3}", "web", T0 + timedelta(days=d, hours=5)))
            for d in range(14)
        ],
        store=scoring.kpis,
    )
    query = """query($f: DateTime!, $t: DateTime!) { kpis(from: $f, to: $t, trend: "week") {
      customers trend { from to report { customers retentionRate } } } }"""

    found = (await scoring.ask(query, f=T0.isoformat(), t=(T0 + timedelta(days=14)).isoformat()))[
        "kpis"
    ]
    off = await schema.execute(
        query,
        variable_values={
            "f": (T0 + timedelta(hours=3)).isoformat(),
            "t": (T0 + timedelta(days=3)).isoformat(),
        },
        context_value=scoring.context(READER),
    )

    assert found["customers"] == 3
    assert [p["report"]["customers"] for p in found["trend"]] == [3, 3]
    assert found["trend"][1]["report"]["retentionRate"] == 1.0
    assert off.errors
    assert "is not midnight UTC" in off.errors[0].message


class EveryIdUnseen:
    """An inbox that lets every delivery through, so the test sees duplicates too."""

    async def unseen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        return set(event_ids)

    async def mark(self, consumer: str, event_ids: Sequence[str]) -> None:
        return None


@contextlib.asynccontextmanager
async def listening(settings: Any) -> AsyncIterator[tuple[Bus, list[CloudEvent]]]:
    bus = await Bus.connect(settings, source="threadline/scoring", inbox=EveryIdUnseen())
    seen: list[CloudEvent] = []

    async def collect(batch: Sequence[CloudEvent]) -> None:
        seen.extend(batch)

    try:
        await bus.start(
            ConsumerSpec(f"test.score.{uuid.uuid4().hex[:8]}", ("score.changed",), collect)
        )
        yield bus, seen
    finally:
        await bus.close()


async def test_score_changed_is_published_once_per_crossing(infra, scoring):
    settings = slice_settings(infra)
    customer = f"c-{uuid.uuid4().hex[:8]}"

    def answer(message_id: str, score: int, hour: int) -> CloudEvent:
        return resolved(
            "track",
            message_id,
            customer,
            event="Survey Answered",
            properties={"survey": "nps", "score": score},
            timestamp=f"2026-03-01T{hour:02d}:00:00Z",
        )

    async with listening(settings) as (bus, seen):
        ports = ScoringPorts(scoring.metrics, scoring.kpis, scoring.models, bus, ScoringConfig())
        handle = events_consumer(ports).handler
        detractor = answer(f"{customer}-1", 3, 9)
        await handle([detractor])
        await handle([detractor])  # redelivered past the inbox
        await handle([answer(f"{customer}-2", 5, 10)])  # still a detractor: no crossing
        await handle([answer(f"{customer}-3", 10, 11)])  # a promoter now: crossing back

        for _ in range(100):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything published twice would arrive meanwhile

    changes = [e.data for e in seen if e.data["customerId"] == customer]
    assert [(c["score"], c["direction"], c["value"], c["previous"]) for c in changes] == [
        ("nps", "below", 3.0, None),
        ("nps", "above", 10.0, 5.0),
    ]
    assert all(c["threshold"] == 6.0 for c in changes)
    assert seen[0].type == "io.threadline.score.changed"
    assert seen[0].subject == customer


async def test_an_erasure_through_the_consumer_forgets_metrics_facts_and_states(infra, scoring):
    settings = slice_settings(infra)
    customer = f"c-{uuid.uuid4().hex[:8]}"
    survey = resolved(
        "track",
        f"{customer}-1",
        customer,
        event="Survey Answered",
        properties={"survey": "nps", "score": 2},
        timestamp="2026-03-01T09:00:00Z",
    )
    erased = CloudEvent(
        type="io.threadline.customer.erased",
        source="threadline/profile",
        data={"customerId": customer, "erasedIds": [customer], "jobId": "j1"},
        subject=customer,
    )
    later = resolved("page", f"{customer}-2", customer, timestamp="2026-03-02T09:00:00Z")

    async with listening(settings) as (bus, _):
        ports = ScoringPorts(scoring.metrics, scoring.kpis, scoring.models, bus, ScoringConfig())
        handle = events_consumer(ports).handler
        await handle([survey])
        await handle([erased, later])

    scores = (await scoring.ask(ENTITY, id=customer, days=30))["_entities"][0]["scores"]
    assert scores["nps"] is None
    assert await scoring.metrics.load([customer]) == {}
    assert await scoring.models.states([customer]) == {}
    assert (await scoring.kpis.customer_facts([customer]))[customer] == []


async def test_integration_impact_compares_groups_with_their_sizes_and_tests(scoring):
    facts = []
    for n in range(6):  # integrated: web and store, ordering more
        for k, channel in enumerate(("web", "store", "web")):
            order = Order(f"oi{n}-{k}", Decimal(20 + n), "USD") if k else None
            at = T0 + timedelta(days=n, hours=k)
            facts.append(Fact(KpiEvent(f"i{n}-{k}", f"i{n}", channel, at, order=order)))
    for n in range(5):  # single channel, one order each
        order = Order(f"os{n}", Decimal(10 + n), "USD")
        at = T0 + timedelta(days=n + 8)
        facts.append(Fact(KpiEvent(f"s{n}", f"s{n}", "web", at, order=order)))
    await record_facts(facts, store=scoring.kpis)
    query = """query($d: DateTime!, $f: DateTime!, $t: DateTime!) {
      integrationImpact(date: $d, from: $f, to: $t) {
        integrated { labelA labelB sizeA sizeB
          comparisons { metric nA nB meanA meanB welchP mannWhitneyP } }
        beforeAfter { sizeA sizeB kpisA { orders } kpisB { orders } } } }"""

    found = (
        await scoring.ask(
            query,
            d=(T0 + timedelta(days=7)).isoformat(),
            f=T0.isoformat(),
            t=(T0 + timedelta(days=14)).isoformat(),
        )
    )["integrationImpact"]

    integrated = found["integrated"]
    assert (integrated["labelA"], integrated["sizeA"]) == ("single_channel", 5)
    assert (integrated["labelB"], integrated["sizeB"]) == ("integrated", 6)
    orders = {c["metric"]: c for c in integrated["comparisons"]}["orders"]
    assert (orders["meanA"], orders["meanB"]) == (1.0, 2.0)
    assert orders["mannWhitneyP"] is not None
    assert orders["mannWhitneyP"] < 0.05
    assert (found["beforeAfter"]["sizeA"], found["beforeAfter"]["sizeB"]) == (6, 5)
    assert found["beforeAfter"]["kpisA"]["orders"] == 12
