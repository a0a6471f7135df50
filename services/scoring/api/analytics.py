"""Company-level answers: ``kpis``, ``integrationIndex``, ``integrationImpact``,
``experienceScores``.

Periods are ``[from, to)`` in whole UTC days (KPIs are kept per UTC day); a bound
off midnight UTC is refused with the nearest midnight to use instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from services.scoring.api.context import READ, ScoringInfo, bad_input, kpi_store, model_store
from services.scoring.api.scores import CompositeAnswer, Money
from services.scoring.domain import ScoringError
from services.scoring.domain.composite import score
from services.scoring.domain.impact import Comparison as ComparisonValue
from services.scoring.domain.impact import GroupImpact as GroupValue
from services.scoring.domain.impact import before_and_after_periods, integrated_vs_single_channel
from services.scoring.domain.kpi_buckets import day_start
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpi_ledger import GRANULARITIES, Granularity
from services.scoring.domain.kpi_query import TrendPoint, days_of
from services.scoring.domain.kpis import KpiReport as ReportValue
from services.scoring.domain.kpis import Period
from services.scoring.queries import integration_index, kpis
from shared.subgraph import require_scope

From = Annotated[datetime, strawberry.argument(name="from")]
To = Annotated[datetime, strawberry.argument(name="to")]


@strawberry.type(
    description="DESIGN.md §5 KPIs of a period: customers = distinct customers with any event; "
    "orders = distinct order_id of Order Completed; revenue in `currency` (each order's earliest "
    "event in the period); aov = revenue / orders; conversionRate = customers with an order / "
    "customers; repeatPurchaseRate = customers with >= 2 orders / customers with an order; "
    "nps = % answers 9-10 - % answers 0-6; csat = % answers 4-5; ces = mean answer (1-7). "
    "Rates are fractions 0-1 except nps/csat; null when undefined."
)
class KpiReport:
    currency: str
    customers: int
    orders: int
    revenue: float
    aov: float | None
    conversion_rate: float | None
    repeat_purchase_rate: float | None
    nps: float | None
    csat: float | None
    ces: float | None
    first_contact_resolution: float | None = strawberry.field(
        description="Resolved tickets never reopened / resolved tickets (by resolution day)."
    )
    avg_resolution_hours: float | None
    avg_first_response_hours: float | None
    purchase_frequency: float | None = strawberry.field(
        description="orders / customers with an order."
    )
    historical_clv: float | None = strawberry.field(
        description="Historical CLV: revenue of the period in `currency` / customers with at "
        "least one order in the period (null without one)."
    )
    retention_rate: float | None = strawberry.field(
        description="Customers active in the period before (same length) and in this one / "
        "customers active in the period before."
    )
    churn_rate: float | None = strawberry.field(description="1 - retentionRate.")
    revenue_by_currency: list[Money]
    customers_with_order: int
    previous_customers: int | None
    trend: list[KpiTrendPoint] = strawberry.field(
        description="One report per day, ISO week or month of the period (kpis(trend:)), "
        "clipped to the period."
    )

    @classmethod
    def of(cls, report: ReportValue, trend: list[TrendPoint] | None = None) -> KpiReport:
        return cls(
            currency=report.currency,
            customers=report.customers,
            orders=report.orders,
            revenue=float(report.revenue),
            aov=None if report.aov is None else float(report.aov),
            conversion_rate=report.conversion_rate,
            repeat_purchase_rate=report.repeat_purchase_rate,
            nps=report.nps,
            csat=report.csat,
            ces=report.ces,
            first_contact_resolution=report.first_contact_resolution,
            avg_resolution_hours=report.avg_resolution_hours,
            avg_first_response_hours=report.avg_first_response_hours,
            purchase_frequency=report.purchase_frequency,
            historical_clv=None if report.historical_clv is None else float(report.historical_clv),
            retention_rate=report.retention_rate,
            churn_rate=report.churn_rate,
            revenue_by_currency=[
                Money(amount=str(amount), currency=currency)
                for currency, amount in sorted(report.revenue_by_currency.items())
            ],
            customers_with_order=report.customers_with_order,
            previous_customers=report.previous_customers,
            trend=[
                KpiTrendPoint(
                    start=day_start(p.days.first),
                    end=day_start(p.days.end),
                    report=KpiReport.of(p.report),
                )
                for p in trend or []
            ],
        )


@strawberry.type
class KpiTrendPoint:
    start: datetime = strawberry.field(name="from")
    end: datetime = strawberry.field(name="to")
    report: KpiReport


@strawberry.type
class ChannelIntegration:
    channel: str
    score: float
    components: JSON = strawberry.field(
        description="identityCoverage, continuity, serviceParity (0-1, null when undefined) "
        "and the counts behind them."
    )


@strawberry.type(
    description="Omnichannel Integration Index: value = Σ channel scores / number of channels "
    "with a touch in the period (0-100); a channel's score = 100 × the mean of its defined "
    "components: identityCoverage (touches by an identified person / touches), continuity "
    "(handoffs to or from the channel within 7 days where the person is known on both sides "
    "/ handoffs), serviceParity (min(1, cross-channel mean resolution hours / the channel's)). "
    "target = 80."
)
class IntegrationIndex:
    value: float
    target: float
    channels: list[ChannelIntegration]


@strawberry.type(name="MetricComparison")
class Comparison:
    metric: str
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None = strawberry.field(description="meanB - meanA.")
    welch_t: float | None
    welch_p: float | None = strawberry.field(description="Welch's t-test, two-sided.")
    mann_whitney_u: float | None
    mann_whitney_p: float | None = strawberry.field(description="Mann-Whitney U, two-sided.")

    @classmethod
    def of(cls, value: ComparisonValue) -> Comparison:
        return cls(**{name: getattr(value, name) for name in cls.__annotations__})


@strawberry.type
class GroupImpact:
    label_a: str
    label_b: str
    size_a: int
    size_b: int
    kpis_a: KpiReport
    kpis_b: KpiReport
    comparisons: list[Comparison]

    @classmethod
    def of(cls, value: GroupValue) -> GroupImpact:
        return cls(
            label_a=value.label_a,
            label_b=value.label_b,
            size_a=value.kpis_a.customers,
            size_b=value.kpis_b.customers,
            kpis_a=KpiReport.of(value.kpis_a),
            kpis_b=KpiReport.of(value.kpis_b),
            comparisons=[Comparison.of(c) for c in value.comparisons],
        )


@strawberry.type(
    description="Customers active in [from, date) against [date, to), and single-channel "
    "against integrated customers (touches on >= 2 channels) over [from, to)."
)
class IntegrationImpact:
    before_after: GroupImpact
    integrated: GroupImpact


@strawberry.type(description="Company-level IES and CPI over a period.")
class ExperienceScores:
    ies: CompositeAnswer
    cpi: CompositeAnswer


def _granularity(value: str | None) -> Granularity | None:
    if value is None:
        return None
    if value not in GRANULARITIES:
        raise bad_input(f"trend {value!r} is not one of {', '.join(GRANULARITIES)}")
    return value


async def resolve_kpis(
    info: ScoringInfo,
    start: From,
    end: To,
    channel: str | None = None,
    segment_id: strawberry.ID | None = None,
    trend: str | None = None,
) -> KpiReport:
    require_scope(info.context.principal, READ)
    context = info.context
    try:
        answer = await kpis(
            kpi_store(context),
            start,
            end,
            context.config.rates,
            channel=channel,
            segment_id=None if segment_id is None else str(segment_id),
            granularity=_granularity(trend),
        )
    except ScoringError as exc:
        raise bad_input(exc) from None
    return KpiReport.of(answer.report, answer.trend)


async def resolve_integration_index(info: ScoringInfo, start: From, end: To) -> IntegrationIndex:
    require_scope(info.context.principal, READ)
    try:
        index = await integration_index(kpi_store(info.context), start, end)
    except ScoringError as exc:
        raise bad_input(exc) from None
    return IntegrationIndex(
        value=index.value,
        target=index.target,
        channels=[
            ChannelIntegration(
                channel=c.channel, score=c.score, components=JSON(dict(c.components))
            )
            for c in index.channels
        ],
    )


async def resolve_integration_impact(
    info: ScoringInfo, date: datetime, start: From, end: To
) -> IntegrationImpact:
    require_scope(info.context.principal, READ)
    if not start < date < end:
        raise bad_input(
            f"date {date.isoformat()} must lie strictly inside [from, to) to compare before "
            "with after"
        )
    context = info.context
    histories: dict[str, list[KpiEvent]] = {}
    for fact in await kpi_store(context).facts_between(start, end):
        histories.setdefault(fact.event.customer_id, []).append(fact.event)
    rates = context.config.rates
    try:
        return IntegrationImpact(
            before_after=GroupImpact.of(
                before_and_after_periods(histories, Period(start, end), date, rates)
            ),
            integrated=GroupImpact.of(
                integrated_vs_single_channel(histories, Period(start, end), rates)
            ),
        )
    except ScoringError as exc:
        raise bad_input(exc) from None


async def resolve_experience_scores(
    info: ScoringInfo, start: From, end: To, segment_id: strawberry.ID | None = None
) -> ExperienceScores:
    """The IES over the company's (or a segment's) KPIs of the period; the CPI over the base's
    mean pAlive, expected purchases and CLV at the current fit and that IES (for a segment
    the base means do not apply: they are listed as missing)."""
    require_scope(info.context.principal, READ)
    context = info.context
    segment = None if segment_id is None else str(segment_id)
    try:
        days_of(start, end)
        report = (
            await kpis(kpi_store(context), start, end, context.config.rates, segment_id=segment)
        ).report
    except ScoringError as exc:
        raise bad_input(exc) from None
    _, ies_model, cpi_model = await context.loaders.models()
    ies = score(
        ies_model,
        {
            "nps": report.nps,
            "csat": report.csat,
            "ces": report.ces,
            "first_contact_resolution": report.first_contact_resolution,
            "avg_resolution_hours": report.avg_resolution_hours,
        },
    )
    latest = await model_store(context).latest_clv()
    summary = latest[2] if latest and segment is None else {}
    cpi = score(
        cpi_model,
        {
            "p_alive": summary.get("meanPAlive"),
            "expected_purchases": summary.get("meanExpectedPurchases"),
            "clv": summary.get("meanClv"),
            "ies": ies.score,
        },
    )
    return ExperienceScores(ies=CompositeAnswer.of(ies), cpi=CompositeAnswer.of(cpi))
