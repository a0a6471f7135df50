"""Composite scores as configurable, versioned models: IES and CPI, each answer with its parts.

A model is a set of weighted components; each component reads one KPI and
maps it onto 0-100 by a stated linear rule (clipped at the ends, reversed where
lower is better). The score is the sum of the components' contributions
``weight × normalized``, so the explanations add up to the score by
construction. When a KPI is unknown (null), its weight is shared out over the
known components in proportion to their weights, and the answer lists it as
missing; with no known component the score is null.

Defaults (``IES_V1``, ``CPI_V1``) are starting points to be tuned; a changed
model gets a new ``version``, and every answer carries the version it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.scoring.domain import ScoringError


class CompositeModelError(ScoringError):
    """A composite model's definition is inconsistent."""


@dataclass(frozen=True, slots=True)
class LinearScale:
    """``low`` maps to 0 and ``high`` to 100 (the reverse when ``higher_is_better`` is False)."""

    low: float
    high: float
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise CompositeModelError(
                f"scale low {self.low} must be below high {self.high}; "
                "set higher_is_better=False to reverse a scale instead of swapping its ends"
            )

    def normalize(self, value: float) -> float:
        share = (min(max(value, self.low), self.high) - self.low) / (self.high - self.low)
        return 100 * (share if self.higher_is_better else 1 - share)

    def rule(self) -> str:
        best, worst = (self.high, self.low) if self.higher_is_better else (self.low, self.high)
        return f"linear: {worst:g} → 0, {best:g} → 100, clipped outside"


@dataclass(frozen=True, slots=True)
class Component:
    kpi: str
    weight: float
    scale: LinearScale


@dataclass(frozen=True, slots=True)
class CompositeModel:
    name: str
    version: str
    components: tuple[Component, ...]

    def __post_init__(self) -> None:
        kpis = [c.kpi for c in self.components]
        if not kpis or len(set(kpis)) != len(kpis):
            raise CompositeModelError(
                f"model {self.name} {self.version} needs at least one component and each KPI "
                f"at most once, got {kpis}"
            )
        if any(not c.weight > 0 for c in self.components):
            raise CompositeModelError(
                f"model {self.name} {self.version}: every weight must be positive; "
                "drop a component instead of giving it weight 0"
            )
        total = sum(c.weight for c in self.components)
        if abs(total - 1) > 1e-9:
            raise CompositeModelError(
                f"model {self.name} {self.version}: weights sum to {total:g}, not 1; "
                "scale them so they add up to 1"
            )


@dataclass(frozen=True, slots=True)
class ScoreComponent:
    """One part of a composite answer: ``contribution = weight × normalized``."""

    kpi: str
    value: float
    normalized: float
    weight: float
    contribution: float
    rule: str


@dataclass(frozen=True, slots=True)
class CompositeScore:
    model: str
    version: str
    score: float | None
    components: tuple[ScoreComponent, ...]
    missing: tuple[str, ...]


def score(model: CompositeModel, kpis: Mapping[str, float | None]) -> CompositeScore:
    values = {c.kpi: kpis.get(c.kpi) for c in model.components}
    present = sum(c.weight for c in model.components if values[c.kpi] is not None)
    parts = []
    for component in model.components:
        value = values[component.kpi]
        if value is None:
            continue
        normalized = component.scale.normalize(value)
        weight = component.weight / present
        parts.append(
            ScoreComponent(
                kpi=component.kpi,
                value=value,
                normalized=normalized,
                weight=weight,
                contribution=weight * normalized,
                rule=component.scale.rule(),
            )
        )
    missing = tuple(kpi for kpi, value in values.items() if value is None)
    total = sum(part.contribution for part in parts) if parts else None
    return CompositeScore(model.name, model.version, total, tuple(parts), missing)


def model(name: str, version: str, components: Sequence[Component]) -> CompositeModel:
    return CompositeModel(name, version, tuple(components))


# Integrated Experience Score: how the experience feels, from answers and service.
IES_V1 = model(
    "ies",
    "ies-1",
    [
        Component("nps", 0.30, LinearScale(-100, 100)),
        Component("csat", 0.25, LinearScale(0, 100)),
        Component("ces", 0.20, LinearScale(1, 7, higher_is_better=False)),
        Component("first_contact_resolution", 0.15, LinearScale(0, 1)),
        Component("avg_resolution_hours", 0.10, LinearScale(0, 72, higher_is_better=False)),
    ],
)

# Customer Performance Index: what the relationship is worth and how alive it is.
CPI_V1 = model(
    "cpi",
    "cpi-1",
    [
        Component("p_alive", 0.30, LinearScale(0, 1)),
        Component("expected_purchases", 0.20, LinearScale(0, 12)),
        Component("clv", 0.30, LinearScale(0, 1000)),
        Component("ies", 0.20, LinearScale(0, 100)),
    ],
)
