"""Nearest-rank percentiles, the one definition every journey figure uses.

Nearest rank (the smallest value with at least q% of values at or below it)
always returns an observed value, so a p90 of time in stage is a time some
customer actually spent, and it needs no interpolation between durations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from services.journey.domain import JourneyError


def percentile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-th percentile (0 < q <= 100) of ``values``; None when there are none."""
    if not 0 < q <= 100:
        raise JourneyError(
            f"percentile {q} is out of range; ask for one in (0, 100], e.g. 50 or 90"
        )
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]
