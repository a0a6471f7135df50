"""The scoring subgraph: ``Customer.scores``, company KPIs, the integration index and impact,
and the models behind the scores (DESIGN.md §5 names)."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from services.scoring.api import analytics, export, models
from services.scoring.api.context import READ, ScoringContext, ScoringInfo
from services.scoring.api.scores import CustomerScores
from services.scoring.domain.metrics import CustomerMetrics
from shared.subgraph import require_scope

__all__ = ["READ", "Customer", "CustomerScores", "ScoringContext", "schema"]


@strawberry.federation.type(keys=["id"])
class Customer:
    id: strawberry.ID

    @strawberry.field
    async def scores(self, info: ScoringInfo) -> CustomerScores:
        loaders = info.context.loaders
        stored = await loaders.metrics.load(str(self.id))
        facts = await loaders.facts.load(str(self.id))
        metrics = stored or CustomerMetrics(customer_id=str(self.id))
        return CustomerScores.of(
            str(self.id), metrics, facts, await loaders.models(), info.context.config
        )

    @strawberry.field
    async def scoring_export(self, info: ScoringInfo) -> JSON:
        """The scoring part of the customer's data-subject access report (scopes admin and
        pii:read; audited): KPI facts, metrics, threshold states, scores."""
        return JSON(await export.scoring_export(info, str(self.id)))

    @classmethod
    def resolve_reference(cls, info: ScoringInfo, id: strawberry.ID) -> Customer:
        require_scope(info.context.principal, READ)
        return cls(id=id)


@strawberry.type
class Query:
    kpis: analytics.KpiReport = strawberry.field(
        resolver=analytics.resolve_kpis,
        description="KPIs of [from, to) (whole UTC days); trend: day, week or month.",
    )
    integration_index: analytics.IntegrationIndex = strawberry.field(
        resolver=analytics.resolve_integration_index
    )
    integration_impact: analytics.IntegrationImpact = strawberry.field(
        resolver=analytics.resolve_integration_impact
    )
    experience_scores: analytics.ExperienceScores = strawberry.field(
        resolver=analytics.resolve_experience_scores
    )
    clv_model: models.ClvModel | None = strawberry.field(resolver=models.resolve_clv_model)
    composite_models: list[models.CompositeModelType] = strawberry.field(
        resolver=models.resolve_composite_models
    )


@strawberry.type
class Mutation:
    fit_clv_model: models.ClvModel = strawberry.field(
        resolver=models.resolve_fit_clv_model,
        description="Fit BG/NBD + Gamma-Gamma on purchases up to asOf (default now); scope admin.",
    )
    define_composite_model: models.CompositeModelType = strawberry.field(
        resolver=models.resolve_define_composite_model,
        description="Define a new version of the ies or cpi model (weights positive, summing "
        "to 1); it becomes current. Scope admin.",
    )


schema = strawberry.federation.Schema(query=Query, mutation=Mutation, types=[Customer])
