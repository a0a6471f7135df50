"""``Customer.scores`` (DESIGN.md §5 ``CustomerScores``) and the composite answers' types.

Definitions (``domain/customer_scores.py``): ``nps``/``csat``/``ces`` are the
customer's latest answers; ``ies`` the IES model over the customer's own KPIs
over their whole history; ``clv``, ``pAlive``, ``expectedPurchases(days)`` and
``churnRisk`` (= 1 - pAlive) from the current BG/NBD + Gamma-Gamma fit on the
customer's orders up to now, null before the first fit or without an order;
``cpi`` the CPI model over pAlive, expected purchases, CLV and IES.
``explanations`` lists every IES and CPI component with its model and
version; the contributions of one model add up to its score.
``orders`` / ``revenue`` are the customer's distinct order ids and each order's
earliest amount per currency (``domain/customer_orders.py``, the KPIs' rules);
``kpis(from, to)`` is ``Query.kpis``'s report over this customer's events alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from services.scoring.api.context import bad_input
from services.scoring.config import ScoringConfig
from services.scoring.domain import ScoringError
from services.scoring.domain.composite import CompositeScore
from services.scoring.domain.customer_orders import order_totals
from services.scoring.domain.customer_scores import CustomerScores as ScoresValue
from services.scoring.domain.explain import explanations as metric_lines
from services.scoring.domain.kpi_buckets import Fact
from services.scoring.domain.kpis import KpiReport as ReportValue
from services.scoring.domain.kpis import Period, kpis_for
from services.scoring.domain.metrics import CustomerMetrics
from services.scoring.handlers.scores import Models, customer_scores_of, unconverted
from shared.events import utcnow

if TYPE_CHECKING:  # analytics imports this module: the type is resolved lazily
    from services.scoring.api.analytics import KpiReport

LazyKpiReport = Annotated["KpiReport", strawberry.lazy("services.scoring.api.analytics")]


@strawberry.type
class Money:
    amount: str = strawberry.field(description="A decimal string, never a float.")
    currency: str


@strawberry.type
class ChannelCount:
    channel: str
    count: int


@strawberry.type(description="One part of a composite score: contribution = weight × normalized.")
class ScoreComponent:
    model: str
    version: str
    kpi: str
    value: float
    normalized: float = strawberry.field(description="The KPI on 0-100 by `rule`.")
    weight: float = strawberry.field(
        description="The component's weight, shared out over the KPIs that have a value."
    )
    contribution: float
    rule: str


@strawberry.type(description="A composite score (IES or CPI) with the parts that add up to it.")
class CompositeAnswer:
    model: str
    version: str
    score: float | None
    components: list[ScoreComponent]
    missing: list[str] = strawberry.field(description="KPIs without a value (weight shared out).")

    @classmethod
    def of(cls, answer: CompositeScore) -> CompositeAnswer:
        return cls(
            model=answer.model,
            version=answer.version,
            score=answer.score,
            components=components_of(answer),
            missing=list(answer.missing),
        )


def components_of(answer: CompositeScore) -> list[ScoreComponent]:
    return [
        ScoreComponent(
            model=answer.model,
            version=answer.version,
            kpi=part.kpi,
            value=part.value,
            normalized=part.normalized,
            weight=part.weight,
            contribution=part.contribution,
            rule=part.rule,
        )
        for part in answer.components
    ]


def _unconverted_notes(facts: Sequence[Fact], config: ScoringConfig) -> list[str]:
    missing = unconverted([f.event for f in facts], config.rates)
    if not missing:
        return []
    reporting = config.rates.reporting
    return [
        f"Orders in {', '.join(missing)} count without revenue in CLV and IES: no exchange rate "
        f"to {reporting}; set THREADLINE_SCORING_EXCHANGE_RATES (e.g. {missing[0]}=1.1)."
    ]


def resolve_customer_kpis(
    root: CustomerScores,
    start: Annotated[datetime, strawberry.argument(name="from")],
    end: Annotated[datetime, strawberry.argument(name="to")],
) -> LazyKpiReport | None:
    from services.scoring.api.analytics import KpiReport  # here: analytics imports this module

    facts, config = root._facts, root._config
    return KpiReport.of(customer_kpis(root._value.customer_id, facts, start, end, config))


@strawberry.type
class CustomerScores:
    nps: int | None = strawberry.field(description="Latest NPS answer, 0-10.")
    csat: float | None = strawberry.field(description="Latest CSAT answer, 1-5.")
    ces: float | None = strawberry.field(description="Latest CES answer, 1-7.")
    ies: float | None = strawberry.field(description="Integrated Experience Score, 0-100.")
    cpi: float | None = strawberry.field(description="Customer Performance Index, 0-100.")
    clv: float | None = strawberry.field(
        description="Expected spend over the horizon (default 365 days), reporting currency."
    )
    p_alive: float | None
    churn_risk: float | None = strawberry.field(description="1 - pAlive.")
    ies_detail: CompositeAnswer
    cpi_detail: CompositeAnswer
    explanations: list[ScoreComponent]
    orders: int
    revenue: list[Money]
    events_by_channel: list[ChannelCount]
    notes: list[str] = strawberry.field(description="The stored metrics in words.")
    kpis: LazyKpiReport | None = strawberry.field(
        resolver=resolve_customer_kpis,
        description="This customer's KPIs of [from, to) (any instants): Query.kpis's "
        "definitions over the customer's own events (customers is 1 when they were active). "
        "Null, with an error, when an order's currency has no exchange rate.",
    )
    _facts: strawberry.Private[Sequence[Fact]]
    _models: strawberry.Private[Models]
    _config: strawberry.Private[ScoringConfig]
    _value: strawberry.Private[ScoresValue]

    @strawberry.field
    def expected_purchases(self, days: int | None = 365) -> float | None:
        """Expected purchases in the next ``days`` days (BG/NBD)."""
        if self._value.clv is None:
            return None
        days = self._config.horizon_days if days is None else days
        if days == self._value.clv.horizon_days:
            return self._value.clv.expected_purchases
        other = customer_scores_of(
            self._value.customer_id,
            self._facts,
            config=self._config,
            as_of=utcnow(),
            models=self._models,
            days=days,
        )
        return other.clv.expected_purchases if other.clv else None

    @classmethod
    def of(
        cls,
        customer_id: str,
        metrics: CustomerMetrics,
        facts: Sequence[Fact],
        models: Models,
        config: ScoringConfig,
    ) -> CustomerScores:
        value = customer_scores_of(customer_id, facts, config=config, as_of=utcnow(), models=models)
        clv = value.clv
        bought = order_totals(f.event for f in facts)
        return cls(
            nps=value.nps,
            csat=None if value.csat is None else float(value.csat),
            ces=None if value.ces is None else float(value.ces),
            ies=value.ies.score,
            cpi=value.cpi.score,
            clv=clv.clv if clv else None,
            p_alive=clv.p_alive if clv else None,
            churn_risk=clv.churn_risk if clv else None,
            ies_detail=CompositeAnswer.of(value.ies),
            cpi_detail=CompositeAnswer.of(value.cpi),
            explanations=components_of(value.ies) + components_of(value.cpi),
            orders=bought.orders,
            revenue=[
                Money(amount=str(amount), currency=currency)
                for currency, amount in sorted(bought.revenue.items())
            ],
            events_by_channel=[
                ChannelCount(channel=channel, count=count)
                for channel, count in sorted(metrics.events_by_channel.items())
            ],
            notes=metric_lines(metrics, bought) + _unconverted_notes(facts, config),
            _facts=facts,
            _models=models,
            _config=config,
            _value=value,
        )


def customer_kpis(
    customer_id: str, facts: Sequence[Fact], start: datetime, end: datetime, config: ScoringConfig
) -> ReportValue:
    """One customer's KPIs of ``[start, end)`` (``kpis_for`` over their facts)."""
    if not start < end:
        raise bad_input(
            f"kpis: from {start.isoformat()} is not before to {end.isoformat()}; pass a "
            "period [from, to) with from < to"
        )
    try:
        return kpis_for({customer_id: [f.event for f in facts]}, Period(start, end), config.rates)
    except ScoringError as exc:
        raise bad_input(f"kpis: {exc}") from None
