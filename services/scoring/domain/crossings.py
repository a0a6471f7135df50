"""Threshold crossings behind ``io.threadline.score.changed``.

A customer is on the ``above`` side of a threshold when their value is
strictly greater than it, else ``below``. Before any value, a customer is on
the quiet side (``Threshold.quiet``): ``above`` for the NPS detractor line (a
customer who never answered is no detractor), ``below`` for churn risk. A
crossing is a change of side, so an alarm is announced once when it starts
and once when it ends, however many events confirm it meanwhile.

- ``nps``: the customer's latest NPS answer against 6 (0-6 are detractors: ``below``);
- ``churnRisk``: 1 - pAlive from the current CLV model against 0.7 (``above`` is at risk).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Side = Literal["above", "below"]


@dataclass(frozen=True, slots=True)
class Threshold:
    score: str
    threshold: float
    quiet: Side


@dataclass(frozen=True, slots=True)
class ScoreState:
    """The side of a threshold last announced for a customer, and the value seen then."""

    side: str
    value: float | None


@dataclass(frozen=True, slots=True)
class Crossing:
    score: str
    value: float
    previous: float | None
    threshold: float
    direction: Side


def side_of(value: float, threshold: float) -> Side:
    return "above" if value > threshold else "below"


def crossings(
    thresholds: tuple[Threshold, ...],
    states: Mapping[str, ScoreState],
    values: Mapping[str, float | None],
) -> tuple[list[Crossing], dict[str, ScoreState]]:
    """One customer's crossings from the ``states`` last seen to ``values`` now, and the new
    states (only those that changed)."""
    found, changed = [], {}
    for line in thresholds:
        value = values.get(line.score)
        before = states.get(line.score)
        if value is None or (before is not None and before.value == value):
            continue
        side = side_of(value, line.threshold)
        changed[line.score] = ScoreState(side, value)
        if side != (before.side if before else line.quiet):
            previous = before.value if before else None
            found.append(Crossing(line.score, value, previous, line.threshold, side))
    return found, changed
