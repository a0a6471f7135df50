"""Model management through the graph: the CLV fit (``clvModel``, ``fitClvModel``) and the
composite IES/CPI models (``compositeModels``, ``defineCompositeModel``; scope admin)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import strawberry

from services.scoring.api.context import ADMIN, READ, ScoringInfo, bad_input, kpi_store, model_store
from services.scoring.domain import ScoringError
from services.scoring.domain.clv import ClvModel as ClvValue
from services.scoring.domain.composite import Component, CompositeModel, LinearScale
from services.scoring.handlers.scores import fit_clv_model
from shared.events import utcnow
from shared.subgraph import require_scope

# What each composite may read: the KPIs its scorer hands it (domain/customer_scores.py).
COMPOSITE_KPIS: Mapping[str, tuple[str, ...]] = {
    "ies": ("nps", "csat", "ces", "first_contact_resolution", "avg_resolution_hours"),
    "cpi": ("p_alive", "expected_purchases", "clv", "ies"),
}


@strawberry.type
class FitDiagnostics:
    log_likelihood: float
    converged: bool
    iterations: int
    message: str
    customers: int


@strawberry.type(
    description="The current BG/NBD (r, alpha, a, b) + Gamma-Gamma (p, q, gamma) fit, maximum "
    "likelihood on the purchase histories up to asOf (orders grouped per UTC day, time in "
    "timeUnit)."
)
class ClvModel:
    version: int
    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float
    time_unit: str
    customers: int
    fitted_at: datetime
    as_of: datetime
    purchase_fit: FitDiagnostics
    spend_fit: FitDiagnostics
    observed_repeat_purchases: float
    expected_repeat_purchases: float = strawberry.field(
        description="Σ E[X(T)] over the customers: compare with observedRepeatPurchases."
    )
    mean_p_alive: float | None
    mean_expected_purchases: float | None
    mean_clv: float | None

    @classmethod
    def of(cls, version: int, model: ClvValue, summary: Mapping[str, float]) -> ClvModel:
        fits = model.purchase_fit, model.spend_fit
        return cls(
            version=version,
            r=model.purchases.r,
            alpha=model.purchases.alpha,
            a=model.purchases.a,
            b=model.purchases.b,
            p=model.spend.p,
            q=model.spend.q,
            gamma=model.spend.gamma,
            time_unit=model.time_unit,
            customers=model.customers,
            fitted_at=model.fitted_at,
            as_of=model.as_of,
            purchase_fit=FitDiagnostics(**{k: getattr(fits[0], k) for k in _DIAGNOSTICS}),
            spend_fit=FitDiagnostics(**{k: getattr(fits[1], k) for k in _DIAGNOSTICS}),
            observed_repeat_purchases=model.observed_repeat_purchases,
            expected_repeat_purchases=model.expected_repeat_purchases,
            mean_p_alive=summary.get("meanPAlive"),
            mean_expected_purchases=summary.get("meanExpectedPurchases"),
            mean_clv=summary.get("meanClv"),
        )


_DIAGNOSTICS = ("log_likelihood", "converged", "iterations", "message", "customers")


@strawberry.type
class CompositeComponent:
    kpi: str
    weight: float
    low: float
    high: float
    higher_is_better: bool
    rule: str


@strawberry.type(description="A version of the IES or CPI model; the latest defined is current.")
class CompositeModelType:
    name: str
    version: str
    current: bool
    components: list[CompositeComponent]

    @classmethod
    def of(cls, model: CompositeModel, current: bool) -> CompositeModelType:
        return cls(
            name=model.name,
            version=model.version,
            current=current,
            components=[
                CompositeComponent(
                    kpi=c.kpi,
                    weight=c.weight,
                    low=c.scale.low,
                    high=c.scale.high,
                    higher_is_better=c.scale.higher_is_better,
                    rule=c.scale.rule(),
                )
                for c in model.components
            ],
        )


@strawberry.input
class CompositeComponentInput:
    kpi: str
    weight: float
    low: float
    high: float
    higher_is_better: bool = True


async def resolve_clv_model(info: ScoringInfo) -> ClvModel | None:
    require_scope(info.context.principal, READ)
    latest = await model_store(info.context).latest_clv()
    return ClvModel.of(*latest) if latest else None


async def resolve_fit_clv_model(info: ScoringInfo, as_of: datetime | None = None) -> ClvModel:
    require_scope(info.context.principal, ADMIN)
    context, now = info.context, utcnow()
    try:
        version, model, summary = await fit_clv_model(
            kpi_store(context),
            model_store(context),
            config=context.config,
            as_of=as_of or now,
            now=now,
        )
    except ScoringError as exc:
        raise bad_input(f"fitClvModel: {exc}") from None
    return ClvModel.of(version, model, summary)


async def resolve_composite_models(info: ScoringInfo) -> list[CompositeModelType]:
    require_scope(info.context.principal, READ)
    stored = await model_store(info.context).composites()
    _, ies, cpi = await info.context.loaders.models()
    return [
        CompositeModelType.of(
            m, current=(m.name, m.version) in {(ies.name, ies.version), (cpi.name, cpi.version)}
        )
        for m in stored
    ]


async def resolve_define_composite_model(
    info: ScoringInfo, name: str, version: str, components: list[CompositeComponentInput]
) -> CompositeModelType:
    require_scope(info.context.principal, ADMIN)
    allowed = COMPOSITE_KPIS.get(name)
    if allowed is None:
        raise bad_input(f"name {name!r} is not a composite model; use one of ies, cpi")
    unknown = [c.kpi for c in components if c.kpi not in allowed]
    if unknown:
        raise bad_input(
            f"{name} cannot read {', '.join(unknown)}; its components may read {', '.join(allowed)}"
        )
    try:
        model = CompositeModel(
            name,
            version,
            tuple(
                Component(c.kpi, c.weight, LinearScale(c.low, c.high, c.higher_is_better))
                for c in components
            ),
        )
    except ScoringError as exc:
        raise bad_input(exc) from None
    if not await model_store(info.context).save_composite(model, utcnow()):
        raise bad_input(
            f"{name} version {version} exists already; versions are immutable, define a new one"
        )
    return CompositeModelType.of(model, current=True)
