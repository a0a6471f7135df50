"""How long customers stay in each stage, over many customers.

Only finished visits count: a customer still in a stage has not yet shown how
long they will stay, and counting them up to now would pull the figures down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from services.journey.domain.percentiles import percentile
from services.journey.domain.stages import Progress


@dataclass(frozen=True, slots=True)
class StageTimes:
    journey_id: str
    stage: str
    samples: int
    p50: timedelta | None
    p90: timedelta | None


def time_in_stage(progresses: Iterable[Progress]) -> dict[tuple[str, str], StageTimes]:
    """p50 and p90 (nearest rank) of finished visits, by (journey, stage)."""
    durations: dict[tuple[str, str], list[timedelta]] = {}
    for found in progresses:
        for visit in found.visits:
            if visit.left_at is not None:
                durations.setdefault((visit.journey_id, visit.stage), []).append(
                    visit.left_at - visit.entered_at
                )
    return {
        key: StageTimes(key[0], key[1], len(values), percentile(values, 50), percentile(values, 90))
        for key, values in sorted(durations.items())
    }
