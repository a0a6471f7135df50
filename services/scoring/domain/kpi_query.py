"""KPIs of a run of whole UTC days, read from day buckets (``kpi_buckets.py``).

A query reads one scope's buckets of the period ``[F, T)`` and of the period
of the same length just before it ``[P, F)`` (for retention), then sums their
fields by the interval rules of ``kpi_buckets``: a day's ``c.<p>`` entries
count when ``p < F``, ``rp.<b>_<a>`` when ``b < F <= a``, ``ho.<p>`` when
``p >= F``; additive fields always. Weeks and months are runs of days, so
trends are the same query per calendar bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.scoring.domain import ScoringError
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.integration import (
    TARGET,
    ChannelIntegration,
    IndexSettings,
    IntegrationIndex,
    channel_integration,
)
from services.scoring.domain.kpi_buckets import Number, day_number, day_start
from services.scoring.domain.kpi_ledger import Granularity, bucket_of
from services.scoring.domain.kpis import AnswerRef, KpiReport, KpiTotals, report_of

Buckets = Mapping[int, Mapping[str, Number]]
"""One scope's buckets: day number → flattened fields (``c.-1`` → 3, ``r.EUR.-1`` → 10.5 …)."""


PREVIOUS_FIELDS = "c."
"""The only fields a report reads from the days before its period (who was active then)."""


class PeriodError(ScoringError):
    """A period the buckets cannot answer."""


@dataclass(frozen=True, slots=True)
class Days:
    """``[first, end)`` in day numbers."""

    first: int
    end: int

    @property
    def previous(self) -> Days:
        return Days(2 * self.first - self.end, self.first)


def days_of(start: object, end: object) -> Days:
    """The whole UTC days of ``[start, end)``; a bound off midnight UTC is refused."""
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise PeriodError("from and to must be date-times")
    for name, moment in (("from", start), ("to", end)):
        if moment.tzinfo is None or day_start(day_number(moment)) != moment:
            raise PeriodError(
                f"{name} {moment.isoformat()} is not midnight UTC; KPIs are kept per UTC day, "
                f"so give {name} as a date at 00:00:00Z (e.g. "
                f"{day_start(day_number(moment)).isoformat()})"
            )
    if not start < end:
        raise PeriodError(
            f"from {start.isoformat()} must be before to {end.isoformat()}; periods are [from, to)"
        )
    return Days(day_number(start), day_number(end))


def totals(buckets: Buckets, days: Days) -> tuple[KpiTotals, int]:
    """The period's totals and the number of customers active in the previous period."""
    first, before = days.first, days.previous.first
    sums: dict[str, int] = {}
    revenue: dict[str, Decimal] = {}
    answers: dict[AnswerRef, int] = {}
    for day, fields in buckets.items():
        if days.first <= day < days.end:
            _period_fields(fields, first, before, sums, revenue, answers)
    previous = 0
    for day, fields in buckets.items():
        if before <= day < first:
            previous += sum(
                int(v)
                for k, v in fields.items()
                if k.startswith(PREVIOUS_FIELDS) and int(k[2:]) < before
            )
    return (
        KpiTotals(
            customers=sums.get("customers", 0),
            converted=sums.get("converted", 0),
            repeaters=sums.get("repeaters", 0),
            retained=sums.get("retained", 0),
            orders=sums.get("orders", 0),
            revenue_by_currency=revenue,
            answers=answers,
            first_responses=sums.get("t.rn", 0),
            first_response_us=sums.get("t.ru", 0),
            resolved=sums.get("t.sn", 0),
            resolution_us=sums.get("t.su", 0),
            first_contact_resolved=sums.get("t.fcr", 0),
        ),
        previous,
    )


def _period_fields(
    fields: Mapping[str, Number],
    first: int,
    before: int,
    sums: dict[str, int],
    revenue: dict[str, Decimal],
    answers: dict[AnswerRef, int],
) -> None:
    for name, value in fields.items():
        head, _, rest = name.partition(".")
        if head in _DISTINCT:
            _distinct(head, int(rest), int(value), (first, before), sums)
        elif head == "r":
            currency, _, low_text = rest.partition(".")
            if int(low_text) < first and value:
                revenue[currency] = revenue.get(currency, Decimal(0)) + Decimal(value)
        elif head == "rp":
            low_text, _, high = rest.partition("_")
            if int(low_text) < first <= int(high):
                _inc(sums, "repeaters", int(value))
        elif head == "a" and value:
            survey, _, score = rest.partition(".")
            key = (survey, int(score))
            answers[key] = answers.get(key, 0) + int(value)
        elif head == "t":
            _inc(sums, name, int(value))


_DISTINCT = {"c": "customers", "cv": "converted", "o": "orders"}


def _distinct(
    head: str, low: int, value: int, bounds: tuple[int, int], sums: dict[str, int]
) -> None:
    first, before = bounds
    if low < first:
        _inc(sums, _DISTINCT[head], value)
        if head == "c" and low >= before:
            _inc(sums, "retained", value)


def _inc(sums: dict[str, int], name: str, value: int) -> None:
    sums[name] = sums.get(name, 0) + value


def kpi_report(buckets: Buckets, days: Days, rates: ExchangeRates) -> KpiReport:
    found, previous = totals(buckets, days)
    return report_of(found, rates, previous)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    days: Days
    report: KpiReport


def trend(
    buckets: Buckets, days: Days, granularity: Granularity, rates: ExchangeRates
) -> list[TrendPoint]:
    """One report per calendar day, ISO week or month overlapping the period, clipped to it.

    The definition, from day buckets; ``queries.kpis`` answers the same from fewer
    buckets (``kpi_cover``) and is tested against this.
    """
    points = []
    for part in trend_parts(days, granularity):
        # Only the days a point reads (its own and the same length before), not the whole map.
        window = {
            day: fields
            for day in range(part.previous.first, part.end)
            if (fields := buckets.get(day)) is not None
        }
        points.append(TrendPoint(part, kpi_report(window, part, rates)))
    return points


def trend_parts(days: Days, granularity: Granularity) -> list[Days]:
    """The calendar days, ISO weeks or months overlapping the period, clipped to it."""
    parts = []
    moment = day_start(days.first)
    while day_number(moment) < days.end:
        bucket = bucket_of(moment, granularity)
        parts.append(
            Days(max(days.first, day_number(bucket.start)), min(days.end, day_number(bucket.end)))
        )
        moment = bucket.end
    return parts


def summed_report(
    period: Mapping[str, Number], previous: Mapping[str, Number], days: Days, rates: ExchangeRates
) -> KpiReport:
    """``kpi_report`` from the fields of the period's days and of the days before it (only
    ``PREVIOUS_FIELDS`` are read from those), each summed: the rules only ask which of the two
    a day is in, so the sums give the same report."""
    return kpi_report({days.first: period, days.previous.first: previous}, days, rates)


def integration(
    by_channel: Mapping[str, Buckets],
    overall: Buckets,
    days: Days,
    settings: IndexSettings | None = None,
) -> IntegrationIndex:
    """The Omnichannel Integration Index of the period from the channels' buckets."""
    config = settings or IndexSettings()
    overall_totals, _ = totals(overall, days)
    overall_hours = _hours(overall_totals.resolution_us, overall_totals.resolved)
    channels: list[ChannelIntegration] = []
    for channel in sorted(by_channel):
        sums = {"ii.n": 0, "ii.k": 0, "ho": 0, "hk": 0}
        for day, fields in by_channel[channel].items():
            if not days.first <= day < days.end:
                continue
            for name, value in fields.items():
                head, _, rest = name.partition(".")
                if name in ("ii.n", "ii.k"):
                    sums[name] += int(value)
                elif head in ("ho", "hk") and int(rest) >= days.first:
                    sums[head] += int(value)
        if not sums["ii.n"]:
            continue
        mine, _ = totals(by_channel[channel], days)
        channels.append(
            channel_integration(
                channel,
                touches=sums["ii.n"],
                identified=sums["ii.k"],
                handoffs=sums["ho"],
                kept=sums["hk"],
                channel_hours=_hours(mine.resolution_us, mine.resolved),
                overall_hours=overall_hours,
                weights=config.weights,
            )
        )
    mean = sum(c.score for c in channels) / len(channels) if channels else 0.0
    return IntegrationIndex(value=mean, target=TARGET, channels=tuple(channels))


def _hours(microseconds: int, n: int) -> float | None:
    return microseconds / n / 3_600_000_000 if n else None
