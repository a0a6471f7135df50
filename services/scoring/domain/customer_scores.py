"""One customer's scores (DESIGN.md's ``CustomerScores``) from their events and the CLV model.

- ``nps``, ``csat``, ``ces``: the customer's latest answer of each survey by event time;
- ``ies``: the IES model over the customer's own KPIs over their whole history
  (``kpis.py``; a single customer's NPS is +100, 0 or -100 per answer, averaged);
- ``clv``, ``p_alive``, ``expected_purchases``, ``churn_risk``: BG/NBD +
  Gamma-Gamma (``clv.py``) on the customer's orders up to ``as_of``, each
  distinct order once at its earliest event, valued in the reporting currency;
  null without an order (the models describe customers after a first purchase)
  or without a fitted model;
- ``cpi``: the CPI model over p_alive, expected purchases, clv and ies.

``explanations`` lists the IES and CPI components, each with its model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scoring.domain.clv import ClvModel, CustomerClv, score_customers
from services.scoring.domain.composite import (
    CPI_V1,
    IES_V1,
    CompositeModel,
    CompositeScore,
    ScoreComponent,
    score,
)
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_facts import KpiEvent, Order
from services.scoring.domain.kpis import Period, kpis_for
from services.scoring.domain.rfm import Purchase, summarize


@dataclass(frozen=True, slots=True)
class Explanation:
    model: str
    version: str
    component: ScoreComponent


@dataclass(frozen=True, slots=True)
class CustomerScores:
    customer_id: str
    nps: int | None
    csat: int | None
    ces: int | None
    ies: CompositeScore
    cpi: CompositeScore
    clv: CustomerClv | None

    @property
    def explanations(self) -> tuple[Explanation, ...]:
        return tuple(
            Explanation(answer.model, answer.version, part)
            for answer in (self.ies, self.cpi)
            for part in answer.components
        )


def purchases_from(
    customer_id: str, events: Iterable[KpiEvent], rates: ExchangeRates
) -> list[Purchase]:
    """Each distinct order once, at its earliest ``Order Completed``, in the reporting currency."""
    first: dict[str, tuple[datetime, Order]] = {}
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        if event.order is not None:
            first.setdefault(event.order.order_id, (event.at, event.order))
    return [
        Purchase(customer_id, at, float(order.amount * rates.rate(order.currency)))
        if order.currency
        else Purchase(customer_id, at, 0.0)
        for at, order in first.values()
    ]


def customer_scores(
    customer_id: str,
    events: Sequence[KpiEvent],
    *,
    rates: ExchangeRates,
    as_of: datetime,
    clv_model: ClvModel | None,
    days: float = 365.0,
    ies_model: CompositeModel = IES_V1,
    cpi_model: CompositeModel = CPI_V1,
) -> CustomerScores:
    known = [e for e in events if e.at <= as_of]
    latest: dict[str, int] = {}
    for event in sorted(known, key=lambda e: (e.at, e.id)):
        if event.survey is not None:
            latest[event.survey.survey] = event.survey.score
    since = min((e.at for e in known), default=as_of)
    history = kpis_for(
        {customer_id: known}, Period(since, as_of + timedelta(microseconds=1)), rates
    )
    ies = score(
        ies_model,
        {
            "nps": history.nps,
            "csat": history.csat,
            "ces": history.ces,
            "first_contact_resolution": history.first_contact_resolution,
            "avg_resolution_hours": history.avg_resolution_hours,
        },
    )
    clv = None
    summaries = summarize(
        purchases_from(customer_id, known, rates),
        as_of=as_of,
        time_unit_days=clv_model.time_unit_days if clv_model else 7.0,
    )
    if clv_model is not None and summaries:
        (clv,) = score_customers(clv_model, summaries, days=days)
    cpi = score(
        cpi_model,
        {
            "p_alive": clv.p_alive if clv else None,
            "expected_purchases": clv.expected_purchases if clv else None,
            "clv": clv.clv if clv else None,
            "ies": ies.score,
        },
    )
    return CustomerScores(
        customer_id=customer_id,
        nps=latest.get("nps"),
        csat=latest.get("csat"),
        ces=latest.get("ces"),
        ies=ies,
        cpi=cpi,
        clv=clv,
    )
