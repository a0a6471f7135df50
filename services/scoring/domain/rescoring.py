"""Churn risk of many customers at once, for the scheduled re-scoring pass.

A customer who goes quiet sends no event, yet their churn risk grows with time,
and a CLV refit changes everyone's pAlive: only a pass over the purchasing
customers at a later moment sees those crossings. ``churn_risks`` gives each
customer the value ``customer_scores`` gives them at ``as_of`` (1 - pAlive of
their orders up to ``as_of``, each distinct order once at its earliest event,
under the given model), for a whole batch in one vectorized model call.

Only thresholds in ``RESCORED`` are evaluated by the pass: the NPS line reads
the customer's latest answer, which only an event changes, so the event path
sees every NPS crossing itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from services.scoring.domain.clv import ClvModel, score_customers
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.customer_scores import purchases_from
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.rfm import summarize

RESCORED = frozenset({"churnRisk"})
"""Scores that change without an event of the customer: with time and with the model."""


def churn_risks(
    model: ClvModel,
    histories: Mapping[str, Sequence[KpiEvent]],
    *,
    rates: ExchangeRates,
    as_of: datetime,
) -> dict[str, float]:
    """Customer → churn risk at ``as_of`` for each customer with an order by then."""
    purchases = [
        purchase
        for customer, events in histories.items()
        for purchase in purchases_from(
            customer, [_valued(e, rates) for e in events if e.at <= as_of], rates
        )
    ]
    summaries = summarize(purchases, as_of=as_of, time_unit_days=model.time_unit_days)
    if not summaries:
        return {}
    return {s.customer_id: s.churn_risk for s in score_customers(model, summaries)}


def _valued(event: KpiEvent, rates: ExchangeRates) -> KpiEvent:
    """An order in a currency without a rate counts without revenue, as in the customer's
    own scores (churn risk does not read amounts, so it is the same either way)."""
    order = event.order
    if order is None or not order.currency or rates.covers(order.currency):
        return event
    return replace(event, order=replace(order, amount=Decimal(0), currency=""))
