"""The scoring worker's scheduled tasks against the real database: snapshots and refits run
once per due time, whichever of several processes gets there first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.models import MongoModelStore
from services.scoring.bootstrap import INDEXES
from services.scoring.config import ScoringConfig
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.handlers.kpis import record_facts
from services.scoring.schedule import run_due
from tests.integration.services.services_support import scratch_database
from tests.integration.services.test_services_scoring_graph import T0, purchases

pytestmark = pytest.mark.integration


async def test_yesterdays_snapshot_and_a_refit_run_once_across_processes(infra):
    now = T0 + timedelta(days=200, hours=3)
    yesterday = T0 + timedelta(days=199, hours=12)
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store, models = MongoKpiStore(database), MongoModelStore(database)
        await record_facts(
            [*purchases(40), Fact(KpiEvent("y1", "late", "web", yesterday))], store=store
        )

        first, second = await asyncio.gather(
            run_due(store, models, ScoringConfig(), holder="a", now=now),
            run_due(store, models, ScoringConfig(), holder="b", now=now),
        )
        again = await run_due(store, models, ScoringConfig(), holder="b", now=now)
        snapshots = await models.snapshots("2026-07-23", "2026-07-25")
        latest = await models.latest_clv()

    assert sorted(first + second) == ["clv-refit", "snapshot:2026-07-23"]
    assert again == []
    assert [s["_id"] for s in snapshots] == ["2026-07-23"]
    assert snapshots[0]["customers"] >= 1
    assert latest is not None
    assert latest[0] == 1
