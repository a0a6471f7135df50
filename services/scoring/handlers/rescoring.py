"""The re-scoring pass: threshold crossings that time or a CLV refit cause, not an event.

``rescore`` walks every purchasing customer in pages (one read per page), computes
their churn risk at ``now`` under the current CLV model (``domain/rescoring.py``,
the value ``Customer.scores`` serves at that moment), compares it with the stored
crossing state as the event path does (``domain/crossings.py``), publishes one
``io.threadline.score.changed`` per change of side and then stores the new states,
page by page. The schedule (``schedule.py``) runs it once a day and after each
CLV refit, under a lease.

A crossing's id is derived from the customer, the score, the direction, the
customer's newest order and the state it leaves: a pass that dies after
publishing and before storing a page's states finds the same old states when it
runs again and republishes the same ids, which consumers deduplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.scoring.adapters.ports import ModelStore, RescoringStore
from services.scoring.config import ScoringConfig
from services.scoring.domain.clv import ClvModel
from services.scoring.domain.crossings import Crossing, ScoreState, Threshold, crossings
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.rescoring import RESCORED, churn_risks
from services.scoring.handlers.scores import score_changed
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id

PAGE = 1000
"""Customers per page: one facts read, one states read, one publish, one states write."""


@dataclass(frozen=True, slots=True)
class Rescoring:
    """What the pass needs beside the model store: the histories and where to publish."""

    store: RescoringStore
    publisher: Publisher


async def rescore(
    rescoring: Rescoring,
    models: ModelStore,
    *,
    config: ScoringConfig,
    now: datetime,
    page: int = PAGE,
) -> list[CloudEvent]:
    """Re-evaluate every purchasing customer at ``now``; returns what was published."""
    latest = await models.latest_clv()
    if latest is None or not _lines(config):
        return []
    model = latest[1]
    published: list[CloudEvent] = []
    after: str | None = None
    while True:
        histories = await rescoring.store.purchase_histories(after=after, until=now, customers=page)
        if not histories:
            return published
        after = max(histories)
        published += await _rescore_page(histories, model, rescoring, models, config, now)


async def _rescore_page(
    histories: Mapping[str, Sequence[KpiEvent]],
    model: ClvModel,
    rescoring: Rescoring,
    models: ModelStore,
    config: ScoringConfig,
    now: datetime,
) -> list[CloudEvent]:
    risks = await asyncio.to_thread(churn_risks, model, histories, rates=config.rates, as_of=now)
    states = await models.states(risks)
    lines = _lines(config)
    published: list[CloudEvent] = []
    changed: dict[str, dict[str, ScoreState]] = {}
    for customer, risk in risks.items():
        found, mine = crossings(lines, states.get(customer, {}), {"churnRisk": risk})
        newest = max(histories[customer], key=lambda e: (e.at, e.id))
        published += [_event(customer, crossing, newest.id, now) for crossing in found]
        if mine:
            changed[customer] = mine
    if published:
        await rescoring.publisher.publish(published)
    await models.save_states(changed)
    return published


def _lines(config: ScoringConfig) -> tuple[Threshold, ...]:
    return tuple(t for t in config.thresholds if t.score in RESCORED)


def _event(customer_id: str, crossing: Crossing, newest_order: str, now: datetime) -> CloudEvent:
    event_id = derived_id(
        "score.changed",
        customer_id,
        crossing.score,
        crossing.direction,
        "rescored",
        newest_order,
        repr(crossing.previous),
    )
    return score_changed(customer_id, crossing, event_id, now)
