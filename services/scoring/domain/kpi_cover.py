"""Which stored buckets sum to a run of days: month rollups, day buckets added or taken away.

Every bucket field is a plain sum, and ``kpi_query``'s rules look only at a
field's entry and at whether its day lies in the period or in the one before
it. So the days of a window can be summed field by field before the rules
apply, and any set of stored buckets whose signed sum is those days will do:
a whole month is its rollup; a month the window covers mostly is its rollup
minus the few days outside; a month it covers barely is those days.

A year with a monthly trend then reads about 25 rollups and a few dozen days
instead of 730 days (each point's period before it is a run of 28 to 31 days
that rarely starts on the 1st).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.scoring.domain.kpi_buckets import Number, day_number, day_start
from services.scoring.domain.kpi_ledger import bucket_of
from services.scoring.domain.kpi_query import Buckets, Days


@dataclass(frozen=True, slots=True)
class Cover:
    """Days as ``Σ months + Σ days − Σ minus`` (month rollups keyed by their first day)."""

    months: tuple[int, ...] = ()
    days: tuple[int, ...] = ()
    minus: tuple[int, ...] = ()

    @property
    def reads(self) -> int:
        return len(self.months) + len(self.days) + len(self.minus)


def month_of(day: int) -> tuple[int, int]:
    """``[first, end)`` of the calendar month containing ``day``."""
    month = bucket_of(day_start(day), "month")
    return day_number(month.start), day_number(month.end)


def cover(days: Days) -> Cover:
    """The fewest bucket reads (per month touched) whose signed sum is exactly ``days``."""
    months: list[int] = []
    added: list[int] = []
    minus: list[int] = []
    day = days.first
    while day < days.end:
        month_first, month_end = month_of(day)
        low, high = day, min(month_end, days.end)
        outside = (month_end - month_first) - (high - low)
        if outside == 0:
            months.append(month_first)
        elif high - low <= outside + 1:
            added.extend(range(low, high))
        else:
            months.append(month_first)
            minus.extend((*range(month_first, low), *range(high, month_end)))
        day = high
    return Cover(tuple(months), tuple(added), tuple(minus))


def pieces(cover: Cover, months: Buckets, days: Buckets) -> dict[int, Mapping[str, Number]] | None:
    """The covered buckets as stored (a rollup keyed by its month's first day, inside the
    covered days), for ``kpi_report`` to sum as it reads them; None when days are taken away."""
    if cover.minus:
        return None
    out = {first: months[first] for first in cover.months if first in months}
    out.update((day, days[day]) for day in cover.days if day in days)
    return out


def summed(cover: Cover, months: Buckets, days: Buckets, prefix: str = "") -> Mapping[str, Number]:
    """The fields (those named ``prefix…``) of the covered days summed; a bucket not stored
    is empty."""
    if cover.reads == 1 and not cover.minus and not prefix:
        # One bucket as it is (read only): a point that is a whole month copies nothing.
        only = months.get(cover.months[0]) if cover.months else days.get(cover.days[0])
        return only or {}
    out: dict[str, Number] = {}
    for source, numbers, sign in (
        (months, cover.months, 1),
        (days, cover.days, 1),
        (days, cover.minus, -1),
    ):
        for number in numbers:
            for name, value in (source.get(number) or {}).items():
                if name.startswith(prefix):
                    out[name] = out.get(name, 0) + sign * value
    return out
