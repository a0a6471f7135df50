"""The scoring subgraph: extends ``Customer`` with ``scores``.

Only metrics computed from stored events appear; the composite scores (IES,
CPI, CLV, churn risk) arrive with the full scoring issue.
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from strawberry.types import Info

from services.scoring.adapters.ports import MetricsStore
from services.scoring.domain.explain import explanations
from services.scoring.domain.metrics import CustomerMetrics
from shared.auth import Principal
from shared.subgraph import require_scope

READ = "customers:read"


@dataclass(frozen=True, slots=True)
class ScoringContext:
    principal: Principal
    store: MetricsStore


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
        found = await info.context.store.load([str(self.id)])
        metrics = found.get(str(self.id)) or CustomerMetrics(customer_id=str(self.id))
        return CustomerScores.of(metrics)

    @classmethod
    def resolve_reference(cls, info: ScoringInfo, id: strawberry.ID) -> Customer:
        require_scope(info.context.principal, READ)
        return cls(id=id)


schema = strawberry.federation.Schema(types=[Customer])
