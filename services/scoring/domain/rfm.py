"""Purchase histories reduced to what the CLV models read: frequency, recency, age, spend.

The reduction follows Fader, Hardie & Lee (2005) and the CDNOW calibration data
they published: purchases are grouped by UTC calendar day (several orders on one
day are one purchase occasion whose spend is their sum); ``frequency`` is the
number of *repeat* occasions (occasions after the first); ``recency`` is the
time from the first to the last occasion and ``age`` (the papers' ``T``) the
time from the first occasion to the observation end ``as_of``, both in
``time_unit_days`` units (7: weeks, as in the papers). ``monetary`` is the mean
spend of the repeat occasions, the first purchase excluded, because
Gamma-Gamma models the spend of repeat transactions only.

Purchases after ``as_of`` are left out, which is what makes a calibration
period choosable: fit on ``as_of`` = end of calibration, compare with what
happened after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.scoring.domain import ScoringError

SECONDS_PER_DAY = 86_400.0


class RfmError(ScoringError):
    """A purchase history cannot be summarized as asked."""


@dataclass(frozen=True, slots=True)
class Purchase:
    """One completed order: when, and its value in the reporting currency."""

    customer_id: str
    at: datetime
    amount: float


@dataclass(frozen=True, slots=True)
class RfmSummary:
    """One customer's purchase history as the BG/NBD and Gamma-Gamma models read it."""

    customer_id: str
    frequency: int
    recency: float
    age: float
    monetary: float

    def __post_init__(self) -> None:
        if self.frequency < 0:
            raise RfmError(
                f"customer {self.customer_id}: frequency {self.frequency} is negative; "
                "it counts repeat purchase occasions, so it is 0 or more"
            )
        if not 0 <= self.recency <= self.age:
            raise RfmError(
                f"customer {self.customer_id}: recency {self.recency} must lie in "
                f"[0, age={self.age}]; the last purchase cannot precede the first "
                "or follow the observation end"
            )
        if self.frequency == 0 and self.recency != 0:
            raise RfmError(
                f"customer {self.customer_id}: recency must be 0 without repeat "
                f"purchases, got {self.recency}"
            )


def summarize(
    purchases: Iterable[Purchase], *, as_of: datetime, time_unit_days: float = 7.0
) -> list[RfmSummary]:
    """One summary per customer with a purchase at or before ``as_of``, sorted by customer id."""
    if as_of.tzinfo is None:
        raise RfmError("as_of must be timezone-aware (UTC); pass e.g. datetime(..., tzinfo=UTC)")
    if time_unit_days <= 0:
        raise RfmError(f"time_unit_days must be positive, got {time_unit_days}")
    days: dict[str, dict[date, float]] = {}
    for purchase in purchases:
        if purchase.at > as_of:
            continue
        day = _utc_day(purchase.at)
        spend = days.setdefault(purchase.customer_id, {})
        spend[day] = spend.get(day, 0.0) + purchase.amount
    end = _utc_day(as_of)
    return [
        _summary(customer_id, days[customer_id], end, time_unit_days)
        for customer_id in sorted(days)
    ]


def _summary(
    customer_id: str, spend_by_day: Mapping[date, float], end: date, unit: float
) -> RfmSummary:
    ordered = sorted(spend_by_day)
    first, last = ordered[0], ordered[-1]
    repeats = [spend_by_day[day] for day in ordered[1:]]
    return RfmSummary(
        customer_id=customer_id,
        frequency=len(repeats),
        recency=(last - first).days / unit,
        age=(end - first).days / unit,
        monetary=sum(repeats) / len(repeats) if repeats else 0.0,
    )


def _utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise RfmError(f"purchase time {moment.isoformat()} has no timezone; give it in UTC")
    return moment.astimezone(UTC).date()
