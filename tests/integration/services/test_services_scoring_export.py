"""``Customer.scoringExport`` over the real MongoDB: the scoring part of a data-subject access
report, batched across customers, bounded, and audited in the scoring's own PII audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.models import MongoModelStore
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.api import export
from services.scoring.api.graph import ScoringContext, schema
from services.scoring.bootstrap import INDEXES
from services.scoring.config import ScoringConfig
from services.scoring.worker import ScoringPorts, events_consumer
from shared.auth import Principal
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document
from shared.pii_audit import AUDIT_COLLECTION, MongoPiiAudit
from tests.integration.services.services_support import scratch_database
from tests.support.resolved_events import resolved

pytestmark = pytest.mark.integration

EXPORTER = Principal("dpo-1", frozenset({"customers:read", "admin", "pii:read"}))
ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) {
  ... on Customer { id scoringExport } } }"""


class CountingKpis(MongoKpiStore):
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self.calls: list[str] = []

    async def customer_facts(self, ids: Iterable[str]) -> Any:
        self.calls.append("customer_facts")
        return await super().customer_facts(ids)


class CountingModels(MongoModelStore):
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self.calls: list[str] = []

    async def states(self, customer_ids: Iterable[str]) -> Any:
        self.calls.append("states")
        return await super().states(customer_ids)


class CountingMetrics(MongoMetricsStore):
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self.calls: list[str] = []

    async def load(self, customer_ids: Any) -> Any:
        self.calls.append("load")
        return await super().load(customer_ids)


@dataclass
class Scoring:
    database: AsyncDatabase[Document]
    metrics: CountingMetrics
    kpis: CountingKpis
    models: CountingModels

    async def ask(self, *customers: str, principal: Principal = EXPORTER) -> Any:
        context = ScoringContext(
            principal,
            self.metrics,
            self.kpis,
            self.models,
            ScoringConfig(),
            audit=MongoPiiAudit(self.database),
            request_id="dsar-2",
        )
        return await schema.execute(
            ENTITIES,
            variable_values={"r": [{"__typename": "Customer", "id": c} for c in customers]},
            context_value=context,
        )

    async def audit_entries(self) -> list[Document]:
        return [doc async for doc in self.database[AUDIT_COLLECTION].find({})]

    def calls(self) -> list[str]:
        return sorted(self.metrics.calls + self.kpis.calls + self.models.calls)


def events(customer: str) -> list[CloudEvent]:
    """A detractor's NPS answer (a threshold crossed) and an order."""
    return [
        resolved("track", f"{customer}-1", customer, event="Survey Answered",
                 properties={"survey": "nps", "score": 3}, timestamp="2026-03-01T09:00:00Z"),
        resolved("track", f"{customer}-2", customer, event="Order Completed",
                 properties={"order_id": f"o-{customer}", "total": 40, "currency": "EUR"},
                 timestamp="2026-03-02T09:00:00Z"),
    ]  # fmt: skip


@pytest.fixture
async def scoring(infra: Any) -> AsyncIterator[Scoring]:
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        found = Scoring(
            database, CountingMetrics(database), CountingKpis(database), CountingModels(database)
        )
        ports = ScoringPorts(
            found.metrics, found.kpis, found.models, InMemoryBus(), ScoringConfig()
        )
        handle = events_consumer(ports).handler
        for customer in ("ana", "bo"):
            await handle(events(customer))
        for calls in (found.metrics.calls, found.kpis.calls, found.models.calls):
            calls.clear()
        yield found


async def test_the_export_holds_facts_metrics_threshold_states_and_scores_and_is_audited(scoring):
    result = await scoring.ask("ana")

    assert result.errors is None, result.errors
    report = result.data["_entities"][0]["scoringExport"]
    assert report["customerId"] == "ana"
    answer, order = (e.id for e in events("ana"))
    by_id = {f["event"]["id"]: f["event"] for f in report["kpiFacts"]}
    assert sorted(by_id) == sorted([answer, order])
    assert by_id[answer]["survey"] == {"survey": "nps", "score": 3}
    assert by_id[order]["order"] == {"order_id": "o-ana", "amount": "40", "currency": "EUR"}
    assert report["metrics"]["orders"] == 1
    assert report["metrics"]["surveys"]["nps"]["event_id"] == answer
    assert report["thresholdStates"]["nps"]["side"] == "below"
    assert report["scores"]["nps"] == 3
    [entry] = await scoring.audit_entries()
    assert (entry["principal"], entry["customerIds"], entry["fields"], entry["requestId"]) == (
        "dpo-1", ["ana"], ["Customer.scoringExport"], "dsar-2"
    )  # fmt: skip


async def test_many_customers_are_one_read_per_part_and_one_audit_entry(scoring):
    result = await scoring.ask("ana", "bo")

    assert result.errors is None, result.errors
    ana, bo = (e["scoringExport"] for e in result.data["_entities"])
    assert (ana["customerId"], bo["customerId"]) == ("ana", "bo")
    assert bo["scores"]["nps"] == 3
    assert scoring.calls() == ["customer_facts", "load", "states"]
    [entry] = await scoring.audit_entries()
    assert entry["customerIds"] == ["ana", "bo"]


async def test_the_export_needs_admin_and_pii_read_and_refusals_are_not_audited(scoring):
    for scopes in [{"customers:read", "pii:read"}, {"customers:read"}]:
        result = await scoring.ask("ana", principal=Principal("analyst", frozenset(scopes)))
        assert result.errors[0].extensions == {"code": "FORBIDDEN"}
    assert await scoring.audit_entries() == []


async def test_a_customer_past_the_cap_is_refused_with_the_reason(scoring, monkeypatch):
    monkeypatch.setattr(export, "MAX_EXPORT_FACTS", 1)

    result = await scoring.ask("ana")

    [error] = result.errors
    assert error.extensions == {"code": "EXPORT_TOO_LARGE"}
    assert "customer ana has 2 KPI facts, more than the 1 one report carries" in error.message
