"""The scoring subgraph: extends ``Customer`` with ``scores``.

Only metrics computed from stored events appear; the composite scores (IES,
CPI, CLV, churn risk) arrive with the full scoring issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from strawberry.types import Info

from services.scoring.adapters.ports import MetricsStore
from services.scoring.api.loaders import ScoringLoaders
from services.scoring.domain.explain import explanations
from services.scoring.domain.metrics import CustomerMetrics
from shared.auth import Principal
from shared.subgraph import require_scope

READ = "customers:read"


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """Per request: who asks, the store to answer from, and the request's loaders."""

    principal: Principal
    store: MetricsStore
    loaders: ScoringLoaders = field(init=False)

    def __post_init__(self) -> None:
        # Built with the context, so once per request: batches and caches end with it.
        object.__setattr__(self, "loaders", ScoringLoaders(self.store))


ScoringInfo = Info[ScoringContext, None]


@strawberry.type
class Money:
    amount: str = strawberry.field(description="A decimal string, never a float.")
    currency: str


@strawberry.type
class ChannelCount:
    channel: str
    count: int


@strawberry.type
class CustomerScores:
    nps: int | None
    csat: float | None
    ces: float | None
    orders: int
    revenue: list[Money]
    events_by_channel: list[ChannelCount]
    explanations: list[str]

    @classmethod
    def of(cls, metrics: CustomerMetrics) -> CustomerScores:
        surveys = metrics.surveys
        return cls(
            nps=int(surveys["nps"].score) if "nps" in surveys else None,
            csat=float(surveys["csat"].score) if "csat" in surveys else None,
            ces=float(surveys["ces"].score) if "ces" in surveys else None,
            orders=metrics.orders,
            revenue=[
                Money(amount=str(amount), currency=currency)
                for currency, amount in sorted(metrics.revenue.items())
            ],
            events_by_channel=[
                ChannelCount(channel=channel, count=count)
                for channel, count in sorted(metrics.events_by_channel.items())
            ],
            explanations=explanations(metrics),
        )


@strawberry.federation.type(keys=["id"])
class Customer:
    id: strawberry.ID

    @strawberry.field
    async def scores(self, info: ScoringInfo) -> CustomerScores:
        stored = await info.context.loaders.metrics.load(str(self.id))
        metrics = stored or CustomerMetrics(customer_id=str(self.id))
        return CustomerScores.of(metrics)

    @classmethod
    def resolve_reference(cls, info: ScoringInfo, id: strawberry.ID) -> Customer:
        require_scope(info.context.principal, READ)
        return cls(id=id)


schema = strawberry.federation.Schema(types=[Customer])
