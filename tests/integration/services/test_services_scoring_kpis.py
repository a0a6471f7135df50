"""KPIs through the store: every figure equals a recomputation from the raw events.

Events are recorded in any order, some twice, between merges (the profile's
``customer.merged``), against the real database; the figures are read back
from the day buckets and compared with the oracle of the unit tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scoring.adapters.kpi_store import INDEXES, MongoKpiStore
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order
from services.scoring.domain.kpis import Period
from services.scoring.handlers.kpis import (
    handle_erased,
    handle_membership,
    handle_merged,
    handle_split,
    record_facts,
)
from services.scoring.queries import integration_index, kpis
from tests.integration.services.services_support import scratch_database
from tests.unit.scoring.test_scoring_kpis import (
    CHANNELS,
    CUSTOMERS,
    RATES,
    START,
    assert_matches,
    oracle,
    raw_events,
)

pytestmark = pytest.mark.integration

Operation = tuple[str, object]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[KpiEvent], list[Operation]]:
    """Events in any order, some twice, in batches, with merges of current customers between."""
    events = draw(raw_events())
    sent = events + draw(st.lists(st.sampled_from(events), max_size=5) if events else st.just([]))
    sent = draw(st.permutations(sent))
    operations: list[Operation] = []
    while sent:
        size = draw(st.integers(1, 8))
        operations.append(("events", sent[:size]))
        sent = sent[size:]
        if draw(st.integers(0, 3)) == 0:
            a, b = draw(st.permutations(CUSTOMERS))[:2]
            operations.append(("merge", (a, b)))
        if draw(st.integers(0, 2)) == 0:
            kind = draw(st.sampled_from(["enter", "enter", "exit"]))
            operations.append((kind, draw(st.sampled_from(CUSTOMERS))))
    return events, operations


async def _run(
    url: str,
    operations: Sequence[Operation],
    checks: Sequence[tuple[int, int, str | None]],
    events: list[KpiEvent],
) -> None:
    owner: dict[str, str] = {}
    inside: set[str] = set()
    async with scratch_database(url, INDEXES) as database:
        store = MongoKpiStore(database)
        for step, (kind, argument) in enumerate(operations):
            if kind == "events":
                assert isinstance(argument, list)
                await record_facts([Fact(e) for e in argument], store=store)
            elif kind in ("enter", "exit"):
                member = owner.get(str(argument), str(argument))
                (inside.add if kind == "enter" else inside.discard)(member)
                change = {"segmentId": "vip", "customerId": member}
                change["at"] = (START + timedelta(seconds=step)).isoformat()
                await handle_membership(change, inside=kind == "enter", store=store)
            else:
                assert isinstance(argument, tuple)
                source, into = str(argument[0]), str(argument[1])
                gone, kept = owner.get(source, source), owner.get(into, into)
                if gone == kept:
                    continue
                for member in CUSTOMERS:
                    if owner.get(member, member) == gone:
                        owner[member] = kept
                await handle_merged({"customerId": kept, "mergedIds": [gone]}, store=store)
        for first, length, channel in checks:
            start = START + timedelta(days=first)
            period = Period(start, start + timedelta(days=length))
            answer = await kpis(store, period.start, period.end, RATES, channel=channel)
            assert_matches(answer.report, oracle(events, owner, period, period.previous(), channel))


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=deliveries(),
    checks=st.lists(
        st.tuples(st.integers(-2, 40), st.integers(1, 62), st.sampled_from([None, *CHANNELS])),
        min_size=1,
        max_size=4,
    ),
)
def test_kpis_read_from_the_store_equal_a_recomputation_through_duplicates_late_events_and_merges(
    infra, history, checks
):
    events, operations = history
    asyncio.run(_run(infra.mongodb_url, operations, checks, events))


def _order(
    event_id: str, customer: str, day: int, channel: str = "web", order_id: str | None = None
) -> Fact:
    return Fact(
        KpiEvent(
            event_id,
            customer,
            channel,
            START + timedelta(days=day, hours=10),
            order=Order(order_id or f"o-{event_id}", Decimal(10), "USD"),
        ),
        ingest_id=f"i-{event_id}",
    )


async def test_a_split_moves_the_listed_events_to_the_new_customer(infra):
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoKpiStore(database)
        await record_facts([_order("e1", "c1", 0), _order("e2", "c1", 1)], store=store)
        week = (START, START + timedelta(days=7))
        before = (await kpis(store, *week, RATES)).report
        assert (before.customers, before.customers_with_repeat_order) == (1, 1)

        await handle_split(
            {"customerId": "c1", "newCustomerId": "c9", "ingestIds": ["i-e2"]}, store=store
        )
        await handle_split(
            {"customerId": "c1", "newCustomerId": "c9", "ingestIds": ["i-e2"]}, store=store
        )

        after = (await kpis(store, *week, RATES)).report
        assert (after.customers, after.orders, after.customers_with_repeat_order) == (2, 2, 0)


async def test_an_erasure_removes_every_contribution_and_drops_later_events(infra):
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoKpiStore(database)
        await record_facts(
            [_order("e1", "c1", 0), _order("e2", "anon", 0), _order("e3", "c2", 0)], store=store
        )
        await handle_merged({"customerId": "c1", "mergedIds": ["anon"]}, store=store)

        await handle_erased({"customerId": "c1", "erasedIds": ["c1", "anon"]}, store=store)
        await record_facts([_order("e4", "anon", 1)], store=store)

        report = (await kpis(store, START, START + timedelta(days=7), RATES)).report
        assert (report.customers, report.orders, report.revenue) == (1, 1, Decimal(10))
        assert (
            await database["scoring_facts"].count_documents({"customerId": {"$in": ["c1", "anon"]}})
            == 0
        )


async def test_events_of_a_merged_id_arriving_after_the_merge_land_on_the_survivor(infra):
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoKpiStore(database)
        await handle_merged({"customerId": "known", "mergedIds": ["anon"]}, store=store)
        await record_facts([_order("e1", "anon", 0), _order("e2", "known", 0)], store=store)

        report = (await kpis(store, START, START + timedelta(days=1), RATES)).report
        assert (report.customers, report.customers_with_repeat_order) == (1, 1)


async def test_identity_coverage_moves_the_integration_index_in_its_direction(infra):
    def touch(event_id: str, identified: bool) -> Fact:
        return Fact(
            KpiEvent(event_id, f"c-{event_id}", "web", START + timedelta(hours=1)),
            identified=identified,
        )

    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoKpiStore(database)
        day = (START, START + timedelta(days=1))
        await record_facts([touch("a", True), touch("b", False)], store=store)
        half = await integration_index(store, *day)
        await record_facts([touch("c", True), touch("d", True)], store=store)
        more = await integration_index(store, *day)
        await record_facts([touch(f"x{i}", False) for i in range(4)], store=store)
        less = await integration_index(store, *day)

    assert half.channels[0].components["identityCoverage"] == 0.5
    assert less.value < half.value < more.value
    assert half.target == 80.0


class Crash(Exception):
    pass


async def test_a_change_interrupted_before_its_buckets_is_finished_once_by_the_next_reader(
    infra, monkeypatch
):
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoKpiStore(database)
        await record_facts([_order("e1", "c1", 0)], store=store)
        finish = MongoKpiStore._complete

        async def crash(self, change, total):
            raise Crash

        monkeypatch.setattr(MongoKpiStore, "_complete", crash)
        with pytest.raises(Crash):
            await record_facts([_order("e2", "c1", 1)], store=store)
        monkeypatch.setattr(MongoKpiStore, "_complete", finish)

        await record_facts([_order("e2", "c1", 1)], store=store)  # the retry
        await record_facts([_order("e2", "c1", 1)], store=store)  # and a duplicate

        report = (await kpis(store, START, START + timedelta(days=7), RATES)).report
        leftovers = await database["kpi_buckets"].count_documents({"applied.0": {"$exists": True}})

    assert (report.customers, report.orders, report.customers_with_repeat_order) == (1, 2, 1)
    assert report.revenue == Decimal(20)
    assert leftovers == 0


async def test_continuity_moves_the_integration_index_with_handoffs_that_keep_context(infra):
    def touch(event_id: str, customer: str, channel: str, hours: int, known: bool) -> Fact:
        at = START + timedelta(hours=hours)
        return Fact(KpiEvent(event_id, customer, channel, at), identified=known)

    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        store = MongoKpiStore(database)
        day = (START, START + timedelta(days=1))
        await record_facts(
            [touch("a1", "a", "web", 1, True), touch("a2", "a", "store", 2, False)], store=store
        )
        lost = await integration_index(store, *day)
        await record_facts(
            [touch("b1", "b", "web", 1, True), touch("b2", "b", "store", 2, True)], store=store
        )
        kept = await integration_index(store, *day)

    web = {c.channel: c for c in kept.channels}["web"]
    assert web.components["continuity"] == 0.5
    assert web.components["handoffs"] == 2
    assert {c.channel: c for c in lost.channels}["web"].components["continuity"] == 0.0
    assert kept.value > lost.value
