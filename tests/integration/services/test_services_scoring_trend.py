"""KPI trends read from the database's month rollups and a few days equal trends summed over
every stored day bucket (the oracle: ``kpi_query.trend`` as ``kpis`` computed them before)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scoring.adapters.kpi_store import INDEXES, MongoKpiStore
from services.scoring.domain.kpi_buckets import ALL, Fact, day_number, segment_scope
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpi_ledger import Granularity
from services.scoring.domain.kpi_query import Days, kpi_report, trend
from services.scoring.handlers.kpis import handle_membership, record_facts
from services.scoring.queries import kpis
from tests.integration.services.services_support import scratch_database
from tests.unit.scoring.test_scoring_kpis import CHANNELS, CUSTOMERS, RATES, START, raw_events

pytestmark = pytest.mark.integration

Check = tuple[int, int, Granularity, str]


async def _run(url: str, events: list[KpiEvent], members: list[str], checks: list[Check]) -> None:
    async with scratch_database(url, INDEXES) as database:
        store = MongoKpiStore(database)
        for member in members:
            change = {"segmentId": "vip", "customerId": member, "at": START.isoformat()}
            await handle_membership(change, inside=True, store=store)
        for i in range(0, len(events), 7):
            await record_facts([Fact(e) for e in events[i : i + 7]], store=store)
        for offset, length, granularity, scope in checks:
            start = START + timedelta(days=offset)
            end = start + timedelta(days=length)
            filters = {"segment_id": "vip"} if scope == segment_scope("vip") else {}
            if scope not in (ALL, segment_scope("vip")):
                filters = {"channel": scope}
            found = await kpis(store, start, end, RATES, granularity=granularity, **filters)

            days = Days(day_number(start), day_number(end))
            stored = await store.buckets([scope], days.previous.first, days.end)
            every_day = stored.get(scope, {})
            assert found.report == kpi_report(every_day, days, RATES)
            assert found.trend == trend(every_day, days, granularity, RATES)


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=raw_events(),
    members=st.lists(st.sampled_from(CUSTOMERS), unique=True),
    checks=st.lists(
        st.tuples(
            st.integers(-40, 50),
            st.integers(1, 100),
            st.sampled_from(["day", "week", "month"]),
            st.sampled_from([ALL, *CHANNELS, segment_scope("vip")]),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_a_trend_read_from_month_rollups_equals_the_trend_of_every_stored_day(
    infra, events, members, checks
):
    asyncio.run(_run(infra.mongodb_url, events, members, checks))
