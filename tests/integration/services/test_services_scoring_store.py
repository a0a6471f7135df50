"""One contract for the metrics store, run against MongoDB (SecantusDB) and the in-memory twin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128

from services.scoring.adapters.in_memory import InMemoryMetricsStore
from services.scoring.adapters.mongo import METRICS, MongoMetricsStore
from services.scoring.adapters.ports import MetricsStore, StaleMetricsError
from services.scoring.domain.metrics import CustomerMetrics, SurveyAnswer
from tests.integration.services.services_support import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.fixture(params=["mongodb", "in_memory"])
async def store(request, infra) -> AsyncIterator[MetricsStore]:
    if request.param == "in_memory":
        yield InMemoryMetricsStore()
        return
    async with scratch_database(infra.mongodb_url) as database:
        yield MongoMetricsStore(database)


def metrics(version: int = 1, orders: int = 2) -> CustomerMetrics:
    return CustomerMetrics(
        customer_id="c1",
        events_by_channel={"web": 3, "store": 1},
        orders=orders,
        revenue={"EUR": Decimal("10.30"), "JPY": Decimal("1500")},
        surveys={"csat": SurveyAnswer("csat", Decimal("4.5"), T0, "e9")},
        applied=("e1", "e2"),
        version=version,
    )


async def test_metrics_read_back_exactly_with_decimal_money(store):
    await store.save([metrics()])

    assert await store.load(["c1", "c2"]) == {"c1": metrics()}


async def test_next_version_replaces_the_metrics(store):
    await store.save([metrics()])

    await store.save([metrics(version=2, orders=3)])

    assert (await store.load(["c1"]))["c1"].orders == 3


async def test_writing_on_top_of_a_stale_version_fails_and_changes_nothing(store):
    await store.save([metrics()])
    await store.save([metrics(version=2, orders=3)])

    with pytest.raises(StaleMetricsError, match="c1"):
        await store.save([replace(metrics(), version=2, orders=9)])

    assert (await store.load(["c1"]))["c1"].orders == 3


async def test_money_is_stored_as_decimal128(infra):
    async with scratch_database(infra.mongodb_url) as database:
        await MongoMetricsStore(database).save([metrics()])
        doc = await database[METRICS].find_one({"_id": "c1"})

    assert doc is not None
    assert doc["revenue"]["EUR"] == Decimal128("10.30")
    assert doc["surveys"]["csat"]["score"] == Decimal128("4.5")
