"""The scheduled re-scoring pass on the real database and RabbitMQ: a customer who goes quiet
is announced at risk once, when the scheduler's clock passes the moment; a refit that moves
pAlive re-evaluates; a merge carries the crossing state to the survivor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from services.scoring.adapters.kpi_store import MongoKpiStore
from services.scoring.adapters.models import MongoModelStore
from services.scoring.adapters.mongo import MongoMetricsStore
from services.scoring.adapters.rescoring import MongoRescoringStore
from services.scoring.bootstrap import INDEXES
from services.scoring.config import ScoringConfig
from services.scoring.domain.clv import ClvModel, fit_clv
from services.scoring.domain.composite import CPI_V1, IES_V1
from services.scoring.domain.crossings import ScoreState, side_of
from services.scoring.domain.customer_scores import purchases_from
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent, Order
from services.scoring.domain.rfm import summarize
from services.scoring.handlers.kpis import record_facts
from services.scoring.handlers.rescoring import Rescoring, rescore
from services.scoring.handlers.scores import SCORE_CHANGED, customer_scores_of, fit_clv_model
from services.scoring.schedule import run_due
from services.scoring.worker import ScoringPorts, events_consumer
from shared.bus.rabbitmq import Bus
from shared.events import CloudEvent, format_time
from tests.integration.services.services_support import scratch_database, slice_settings
from tests.integration.services.test_services_scoring_graph import T0, listening, purchases

pytestmark = pytest.mark.integration

CONFIG = ScoringConfig(clv_refit_hours=0)  # refits only when a test asks for one
DAY = timedelta(days=1)


@dataclass
class World:
    kpis: MongoKpiStore
    models: MongoModelStore
    metrics: MongoMetricsStore
    rescoring: Rescoring
    bus: Bus
    seen: list[CloudEvent]

    async def run_due(self, now: datetime) -> list[str]:
        return await run_due(
            self.kpis, self.models, CONFIG, holder="test", now=now, rescoring=self.rescoring
        )

    async def changes_of(self, customer: str, count: int) -> list[CloudEvent]:
        """The score.changed events about ``customer`` once ``count`` arrived (and a moment
        more, for any published twice)."""
        for _ in range(100):
            if len(self._mine(customer)) >= count:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        return self._mine(customer)

    def _mine(self, customer: str) -> list[CloudEvent]:
        return [e for e in self.seen if e.subject == customer]


@pytest.fixture
async def world(infra) -> AsyncIterator[World]:
    async with (
        scratch_database(infra.mongodb_url, INDEXES) as database,
        listening(slice_settings(infra)) as (bus, seen),
    ):
        yield World(
            MongoKpiStore(database),
            MongoModelStore(database),
            MongoMetricsStore(database),
            Rescoring(MongoRescoringStore(database), bus),
            bus,
            seen,
        )


def regular_buyer(customer: str, weeks: int = 20) -> list[Fact]:
    """An order every week from T0 for ``weeks`` weeks, then nothing."""
    return [
        Fact(
            KpiEvent(
                f"{customer}-e{n}",
                customer,
                "web",
                T0 + timedelta(days=7 * n, hours=10),
                order=Order(f"{customer}-o{n}", Decimal(40), "USD"),
            ),
            ingest_id=f"{customer}-i{n}",
        )
        for n in range(weeks)
    ]


def churn(customer: str, facts: Sequence[Fact], model: ClvModel, at: datetime) -> float:
    """What ``Customer.scores`` serves as churnRisk at ``at`` under ``model``."""
    scores = customer_scores_of(
        customer, facts, config=CONFIG, as_of=at, models=(model, IES_V1, CPI_V1)
    )
    assert scores.clv is not None
    return scores.clv.churn_risk


def first_day_at_risk(
    customer: str, facts: Sequence[Fact], model: ClvModel, after: datetime
) -> datetime:
    """Noon of the first day after ``after`` on which churn risk is above the threshold."""
    day = after.replace(hour=12, minute=0, second=0, microsecond=0) + DAY
    for _ in range(3 * 365):
        if churn(customer, facts, model, day) > 0.7:
            return day
        day += DAY
    raise AssertionError(f"{customer} never turns at risk under {model}")


async def latest_model(world: World) -> ClvModel:
    latest = await world.models.latest_clv()
    assert latest is not None
    return latest[1]


async def test_a_customer_who_goes_quiet_is_announced_at_risk_once_as_the_clock_passes(world):
    customer = f"quiet-{uuid.uuid4().hex[:8]}"
    mine = regular_buyer(customer)
    await record_facts([*purchases(40), *mine], store=world.kpis)
    last = mine[-1].event.at
    await fit_clv_model(world.kpis, world.models, config=CONFIG, as_of=last + DAY, now=last + DAY)
    model = await latest_model(world)
    at_risk = first_day_at_risk(customer, mine, model, last)
    before = at_risk - DAY

    first = await world.run_due(before)
    assert await world.changes_of(customer, 0) == []  # still on the safe side
    crossed = await world.run_due(at_risk)
    again = await world.run_due(at_risk + timedelta(hours=1))
    repeated = await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk)
    changes = await world.changes_of(customer, 1)

    assert {f"rescore:day:{before.date()}", "rescore:clv:1"} <= set(first)
    assert f"rescore:day:{at_risk.date()}" in crossed
    assert not [task for task in again if task.startswith("rescore")]
    assert [e for e in repeated if e.subject == customer] == []
    assert len(changes) == 1
    (change,) = changes
    assert change.type == SCORE_CHANGED
    assert change.time == at_risk
    assert change.data["customerId"] == customer
    assert change.data["score"] == "churnRisk"
    assert change.data["direction"] == "above"
    assert change.data["threshold"] == 0.7
    assert change.data["value"] == pytest.approx(churn(customer, mine, model, at_risk))
    assert change.data["previous"] == pytest.approx(churn(customer, mine, model, before))
    assert change.data["at"] == format_time(at_risk)
    states = await world.models.states([customer])
    assert states[customer]["churnRisk"].side == "above"


async def test_a_pass_that_died_before_storing_states_republishes_the_same_ids(world):
    customer = f"quiet-{uuid.uuid4().hex[:8]}"
    mine = regular_buyer(customer)
    await record_facts([*purchases(40), *mine], store=world.kpis)
    last = mine[-1].event.at
    await fit_clv_model(world.kpis, world.models, config=CONFIG, as_of=last + DAY, now=last + DAY)
    at_risk = first_day_at_risk(customer, mine, await latest_model(world), last)
    await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk - DAY)
    left = (await world.models.states([customer]))[customer]

    published = await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk)
    await world.models.save_states({customer: left})  # as if the states were never stored
    retried = await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk + DAY)

    first = [e.id for e in published if e.subject == customer]
    assert len(first) == 1
    assert [e.id for e in retried if e.subject == customer] == first


def fit_as_the_service_does(events: Sequence[KpiEvent], as_of: datetime) -> ClvModel:
    by_customer: dict[str, list[KpiEvent]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    bought = [p for c, mine in by_customer.items() for p in purchases_from(c, mine, CONFIG.rates)]
    return fit_clv(summarize(bought, as_of=as_of), as_of=as_of, fitted_at=as_of)


async def test_a_refit_that_moves_p_alive_re_evaluates_every_customer(world):
    customer = f"quiet-{uuid.uuid4().hex[:8]}"
    mine = regular_buyer(customer)
    await record_facts([*purchases(40), *mine], store=world.kpis)
    last = mine[-1].event.at
    early, late = last + DAY, last + 150 * DAY
    await fit_clv_model(world.kpis, world.models, config=CONFIG, as_of=early, now=early)
    old = await latest_model(world)
    new = fit_as_the_service_does(await world.kpis.purchases(late), late)
    old_day = first_day_at_risk(customer, mine, old, last)
    new_day = first_day_at_risk(customer, mine, new, last)
    assert old_day != new_day, "the two fits should put the customer at risk on different days"
    moment = min(old_day, new_day)  # at risk under one model, not yet under the other

    before_refit = await world.run_due(moment)
    announced = len(await world.changes_of(customer, 1 if old_day <= new_day else 0))
    await fit_clv_model(world.kpis, world.models, config=CONFIG, as_of=late, now=moment)
    refitted = await latest_model(world)
    after_refit = await world.run_due(moment + timedelta(minutes=5))
    changes = (await world.changes_of(customer, announced + 1))[announced:]

    assert refitted.purchases == new.purchases
    assert "rescore:clv:1" in before_refit
    assert [t for t in after_refit if t.startswith("rescore")] == ["rescore:clv:2"]
    value = churn(customer, mine, new, moment)
    assert [(c.data["score"], c.data["direction"]) for c in changes] == [
        ("churnRisk", side_of(value, 0.7))
    ]
    assert changes[0].data["value"] == pytest.approx(value)
    assert changes[0].data["previous"] == pytest.approx(churn(customer, mine, old, moment))


async def test_a_merge_moves_the_crossing_state_to_the_survivor(world):
    merged, survivor = f"quiet-{uuid.uuid4().hex[:8]}", f"known-{uuid.uuid4().hex[:8]}"
    mine = regular_buyer(merged)
    await record_facts([*purchases(40), *mine], store=world.kpis)
    last = mine[-1].event.at
    await fit_clv_model(world.kpis, world.models, config=CONFIG, as_of=last + DAY, now=last + DAY)
    at_risk = first_day_at_risk(merged, mine, await latest_model(world), last)
    await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk)
    assert len(await world.changes_of(merged, 1)) == 1
    handle = events_consumer(
        ScoringPorts(world.metrics, world.kpis, world.models, world.bus, CONFIG)
    ).handler
    merge = CloudEvent(
        type="io.threadline.customer.merged",
        source="threadline/profile",
        data={"customerId": survivor, "mergedIds": [merged]},
        subject=survivor,
    )

    await handle([merge])
    await handle([merge])  # redelivered
    states = await world.models.states([merged, survivor])
    later = await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk + DAY)

    assert merged not in states
    assert states[survivor]["churnRisk"].side == "above"
    assert [e for e in later if e.subject in (merged, survivor)] == []
    assert await world.changes_of(survivor, 0) == []


async def test_move_states_keeps_the_survivors_own_state_and_fills_the_rest(world):
    models = world.models
    await models.save_states(
        {
            "a": {"churnRisk": ScoreState("above", 0.9), "nps": ScoreState("below", 3.0)},
            "b": {"churnRisk": ScoreState("below", 0.1)},
        }
    )

    await models.move_states(["a"], "b")
    await models.move_states(["a"], "b")

    assert await models.states(["a", "b"]) == {
        "b": {"churnRisk": ScoreState("below", 0.1), "nps": ScoreState("below", 3.0)}
    }


async def test_purchase_histories_come_page_by_page_each_customer_whole_and_once(world):
    bought = purchases(25)
    visit = Fact(KpiEvent("v1", "c3", "web", T0))  # no order: not a purchase
    await record_facts([*bought, visit], store=world.kpis)
    until = T0 + 100 * DAY
    store = world.rescoring.store

    pages: list[dict[str, list[KpiEvent]]] = []
    after = None
    while page := await store.purchase_histories(after=after, until=until, customers=4):
        pages.append(page)
        after = max(page)

    expected: dict[str, set[str]] = {}
    for fact in bought:
        if fact.event.at <= until:
            expected.setdefault(fact.event.customer_id, set()).add(fact.event.id)
    seen = [customer for page in pages for customer in page]
    assert sorted(seen) == seen
    assert len(seen) == len(set(seen))
    assert all(len(page) <= 4 for page in pages)
    assert {c: {e.id for e in events} for p in pages for c, events in p.items()} == expected


async def test_a_split_off_quiet_buyer_is_announced_at_risk_and_the_original_is_not(world):
    original = f"shared-{uuid.uuid4().hex[:8]}"
    quiet = regular_buyer(original)  # the person who will be split off
    last = quiet[-1].event.at
    await record_facts(purchases(40), store=world.kpis)
    await fit_clv_model(world.kpis, world.models, config=CONFIG, as_of=last + DAY, now=last + DAY)
    model = await latest_model(world)
    at_risk = first_day_at_risk(original, quiet, model, last)
    staying = [  # the one who stays keeps buying every week until then
        Fact(
            KpiEvent(
                f"{original}-s{n}",
                original,
                "store",
                T0 + timedelta(days=3 + 7 * n),
                order=Order(f"{original}-so{n}", Decimal(20), "USD"),
            ),
            ingest_id=f"{original}-si{n}",
        )
        for n in range((at_risk - T0).days // 7)
    ]
    await record_facts([*quiet, *staying], store=world.kpis)
    await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk - DAY)
    handle = events_consumer(
        ScoringPorts(world.metrics, world.kpis, world.models, world.bus, CONFIG)
    ).handler
    new = f"split-{uuid.uuid4().hex[:8]}"
    split = CloudEvent(
        type="io.threadline.customer.split",
        source="threadline/profile",
        data={
            "customerId": original,
            "newCustomerId": new,
            "ingestIds": [f.ingest_id for f in quiet],
        },
        subject=original,
    )

    await handle([split])
    await rescore(world.rescoring, world.models, config=CONFIG, now=at_risk)
    split_off = await world.changes_of(new, 1)

    assert [(c.data["score"], c.data["direction"]) for c in split_off] == [("churnRisk", "above")]
    assert split_off[0].data["previous"] is None
    assert await world.changes_of(original, 0) == []
    states = await world.models.states([original, new])
    assert states[original]["churnRisk"].side == "below"
