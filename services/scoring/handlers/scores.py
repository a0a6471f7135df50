"""Scores of customers and of the company: crossings announced, CLV fitted, models defined.

- ``announce_crossings``: after a batch, each touched customer's NPS and churn
  risk against the configured thresholds; a change of side publishes one
  ``io.threadline.score.changed`` (id derived from the customer, score,
  direction and the newest fact it was computed from, so a replay republishes
  the same id), then the new side is stored.
- ``fit_clv_model``: BG/NBD + Gamma-Gamma on every stored purchase up to
  ``as_of`` (a thread, so the event loop keeps serving), stored as the next
  version with the base's mean pAlive, expected purchases and CLV (the
  company-level CPI reads those).
- ``customer_scores_of``: DESIGN.md's ``CustomerScores`` of one customer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from services.scoring.adapters.ports import KpiStore, ModelStore
from services.scoring.config import ScoringConfig
from services.scoring.domain.clv import ClvModel, fit_clv, score_customers
from services.scoring.domain.composite import CPI_V1, IES_V1, CompositeModel
from services.scoring.domain.crossings import Crossing, ScoreState, crossings
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.customer_scores import (
    CustomerScores,
    customer_scores,
    purchases_from,
)
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.rfm import summarize
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id, format_time

Models = tuple[ClvModel | None, CompositeModel, CompositeModel]
"""The current CLV fit (None before the first) and the current IES and CPI models."""

SCORE_CHANGED = "io.threadline.score.changed"
SOURCE = "threadline/scoring"


async def current_models(
    models: ModelStore,
) -> tuple[ClvModel | None, CompositeModel, CompositeModel]:
    """The current CLV fit (None before the first) and the current IES and CPI models."""
    latest = await models.latest_clv()
    ies = await models.composites("ies")
    cpi = await models.composites("cpi")
    return (
        latest[1] if latest else None,
        ies[-1] if ies else IES_V1,
        cpi[-1] if cpi else CPI_V1,
    )


def customer_scores_of(
    customer_id: str,
    facts: Sequence[Fact],
    *,
    config: ScoringConfig,
    as_of: datetime,
    models: Models,
    days: float | None = None,
) -> CustomerScores:
    clv, ies, cpi = models
    return customer_scores(
        customer_id,
        convertible([f.event for f in facts], config.rates),
        rates=config.rates,
        as_of=as_of,
        clv_model=clv,
        days=float(days if days is not None else config.horizon_days),
        ies_model=ies,
        cpi_model=cpi,
    )


def convertible(events: Sequence[KpiEvent], rates: ExchangeRates) -> list[KpiEvent]:
    """The events with orders in a currency the rates cannot convert kept as orders without
    revenue: one customer's scores never fail on a missing rate (company KPIs do, naming it)."""
    out = []
    for event in events:
        order = event.order
        if order is not None and order.currency and not rates.covers(order.currency):
            event = replace(event, order=replace(order, amount=Decimal(0), currency=""))
        out.append(event)
    return out


def unconverted(events: Sequence[KpiEvent], rates: ExchangeRates) -> list[str]:
    """Currencies of orders that ``convertible`` had to leave without revenue."""
    return sorted(
        {
            e.order.currency
            for e in events
            if e.order is not None and e.order.currency and not rates.covers(e.order.currency)
        }
    )


async def announce_crossings(
    histories: Mapping[str, Sequence[Fact]],
    *,
    models: ModelStore,
    publisher: Publisher,
    config: ScoringConfig,
) -> list[CloudEvent]:
    """Publish the batch's threshold crossings; returns what was published."""
    if not histories:
        return []
    current = await current_models(models)
    states = await models.states(histories)
    published: list[CloudEvent] = []
    changed: dict[str, dict[str, ScoreState]] = {}
    for customer_id, facts in histories.items():
        if not facts:
            continue
        newest = max(facts, key=lambda f: (f.event.at, f.event.id)).event
        scores = customer_scores_of(
            customer_id, facts, config=config, as_of=newest.at, models=current
        )
        values = {
            "nps": None if scores.nps is None else float(scores.nps),
            "churnRisk": scores.clv.churn_risk if scores.clv else None,
        }
        found, mine = crossings(config.thresholds, states.get(customer_id, {}), values)
        published += [_event(customer_id, crossing, newest) for crossing in found]
        if mine:
            changed[customer_id] = mine
    if published:
        await publisher.publish(published)
    await models.save_states(changed)
    return published


def _event(customer_id: str, crossing: Crossing, newest: KpiEvent) -> CloudEvent:
    event_id = derived_id(
        "score.changed", customer_id, crossing.score, crossing.direction, newest.id
    )
    return score_changed(customer_id, crossing, event_id, newest.at)


def score_changed(customer_id: str, crossing: Crossing, event_id: str, at: datetime) -> CloudEvent:
    """The ``score.changed`` of ``crossing`` at ``at``: one payload for the event path and
    the re-scoring pass, which differ only in how they derive the id and the moment."""
    return CloudEvent(
        type=SCORE_CHANGED,
        source=SOURCE,
        id=event_id,
        time=at,
        subject=customer_id,
        partitionkey=customer_id,
        data={
            "customerId": customer_id,
            "score": crossing.score,
            "value": crossing.value,
            "previous": crossing.previous,
            "threshold": crossing.threshold,
            "direction": crossing.direction,
            "at": format_time(at),
        },
    )


async def fit_clv_model(
    store: KpiStore,
    models: ModelStore,
    *,
    config: ScoringConfig,
    as_of: datetime,
    now: datetime,
) -> tuple[int, ClvModel, dict[str, float]]:
    """Fit on the purchases up to ``as_of``, store the next version; returns it."""
    events = await store.purchases(as_of)
    model, summary = await asyncio.to_thread(_fit, events, config, as_of, now)
    version = await models.save_clv(model, summary)
    return version, model, summary


def _fit(
    events: Sequence[KpiEvent], config: ScoringConfig, as_of: datetime, now: datetime
) -> tuple[ClvModel, dict[str, float]]:
    by_customer: dict[str, list[KpiEvent]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    purchases = [
        p
        for customer, mine in by_customer.items()
        for p in purchases_from(customer, mine, config.rates)
    ]
    summaries = summarize(purchases, as_of=as_of)
    model = fit_clv(summaries, as_of=as_of, fitted_at=now)
    scored = score_customers(model, summaries, days=float(config.horizon_days))
    count = len(scored)
    return model, {
        "meanPAlive": sum(s.p_alive for s in scored) / count,
        "meanExpectedPurchases": sum(s.expected_purchases for s in scored) / count,
        "meanClv": sum(s.clv for s in scored) / count,
        "horizonDays": float(config.horizon_days),
    }
