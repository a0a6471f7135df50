"""KPI counts kept per calendar bucket (day, ISO week, month; UTC) and channel, incrementally.

Each bucket holds the sum of its customers' ``KpiCounts`` (``kpis.py``), for
all channels (scope ``"*"``) and per channel. A change to one customer
replaces only that customer's contribution to the buckets the change can
reach: the bucket of each new event and the next one (retention compares a
bucket with the one before), and for a ticket step every bucket its ticket has
steps in (a resolution's duration depends on the opening). Late events land in
their own bucket by event time; a duplicate event id changes nothing.

Merges and splits: events stay filed under the customer id they arrived with;
a merge maps that id to the surviving customer, a split maps it back. Both
replace the contributions of the customers involved, so the counts are always
those of the current identity graph, exactly as a recomputation from the raw
events would give.

The ledger is a mutable aggregate (copying a base's buckets per event would
cost more than the event); every method returns the bucket keys it changed, so
a store writes only those.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal

from services.scoring.domain import ScoringError
from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpis import (
    EMPTY,
    AnswerRef,
    Key,
    KpiCounts,
    KpiReport,
    OrderRef,
    Period,
    contribution,
    report,
)

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
ALL_CHANNELS = "*"
BucketKey = tuple[Granularity, datetime, str]


class LedgerError(ScoringError):
    """A ledger operation names customers or buckets it cannot act on."""


def bucket_of(moment: datetime, granularity: Granularity) -> Period:
    """The calendar bucket (UTC) containing ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return Period(day, day + timedelta(days=1))
    if granularity == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=7))
    first = day.replace(day=1)
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return Period(first, following)


def previous_bucket(bucket: Period, granularity: Granularity) -> Period:
    return bucket_of(bucket.start - timedelta(microseconds=1), granularity)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    period: Period
    report: KpiReport


class KpiLedger:
    """Incremental KPI counts per (granularity, bucket start, channel or ``"*"``)."""

    def __init__(self, granularities: Sequence[Granularity] = GRANULARITIES) -> None:
        self.granularities = tuple(granularities)
        self._events: dict[str, dict[str, KpiEvent]] = {}
        self._canonical: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._counts: dict[BucketKey, _Totals] = {}

    def canonical(self, customer_id: str) -> str:
        return self._canonical.get(customer_id, customer_id)

    def history(self, customer_id: str) -> list[KpiEvent]:
        """The events of a customer and of every id merged into it, by time then id."""
        merged: dict[str, KpiEvent] = {}
        canonical = self.canonical(customer_id)
        for member in self._members.get(canonical, {canonical}):
            merged.update(self._events.get(member, {}))
        return sorted(merged.values(), key=lambda e: (e.at, e.id))

    def apply(self, events: Iterable[KpiEvent]) -> set[BucketKey]:
        """Include the events not yet included (by id); returns the bucket keys changed."""
        fresh: dict[str, dict[str, KpiEvent]] = {}
        for event in events:
            if event.id not in self._events.get(event.customer_id, {}):
                fresh.setdefault(self.canonical(event.customer_id), {})[event.id] = event
        changed: set[BucketKey] = set()
        for canonical, mine in fresh.items():
            batch = list(mine.values())
            changed |= self._replace([canonical], [canonical], partial(self._record, batch), batch)
        return changed

    def _record(self, events: Sequence[KpiEvent]) -> None:
        for event in events:
            self._events.setdefault(event.customer_id, {})[event.id] = event

    def merge(self, source: str, into: str) -> set[BucketKey]:
        """Fold ``source`` (and everything merged into it) into ``into``."""
        gone, kept = self.canonical(source), self.canonical(into)
        if gone == kept:
            return set()

        def record() -> None:
            moved = self._members.pop(gone, {gone})
            self._members.setdefault(kept, {kept}).update(moved)
            for member in moved:
                self._canonical[member] = kept

        # Only buckets the folded-in events reach can change (``_reach`` adds their tickets').
        return self._replace([gone, kept], [kept], record, self.history(gone))

    def split(self, source: str) -> set[BucketKey]:
        """Undo ``source``'s merge: it becomes its own customer again with its own events."""
        kept = self.canonical(source)
        if kept == source:
            raise LedgerError(
                f"customer {source} is not merged into another; split only ids that a merge "
                "folded into a surviving customer"
            )

        def record() -> None:
            self._members[kept].discard(source)
            self._members[source] = {source}
            del self._canonical[source]

        own = list(self._events.get(source, {}).values())
        return self._replace([kept], [kept, source], record, own)

    def counts(self, granularity: Granularity, start: datetime, channel: str | None) -> KpiCounts:
        totals = self._counts.get((granularity, start, channel or ALL_CHANNELS))
        return EMPTY if totals is None else totals.snapshot()

    def report(
        self,
        granularity: Granularity,
        moment: datetime,
        rates: ExchangeRates,
        channel: str | None = None,
    ) -> KpiReport:
        """KPIs of the calendar bucket containing ``moment``."""
        self._check(granularity)
        bucket = bucket_of(moment, granularity)
        before = previous_bucket(bucket, granularity)
        previous = self.counts(granularity, before.start, channel).customers
        return report(self.counts(granularity, bucket.start, channel), rates, previous)

    def trend(
        self,
        granularity: Granularity,
        period: Period,
        rates: ExchangeRates,
        channel: str | None = None,
    ) -> list[TrendPoint]:
        """One report per calendar bucket starting in ``period``, oldest first."""
        self._check(granularity)
        points = []
        bucket = bucket_of(period.start, granularity)
        if bucket.start < period.start:
            bucket = bucket_of(bucket.end, granularity)
        while bucket.start < period.end:
            points.append(
                TrendPoint(bucket, self.report(granularity, bucket.start, rates, channel))
            )
            bucket = bucket_of(bucket.end, granularity)
        return points

    def _check(self, granularity: Granularity) -> None:
        if granularity not in self.granularities:
            raise LedgerError(
                f"this ledger keeps {', '.join(self.granularities)} buckets, not {granularity}; "
                f"construct it with granularities including {granularity!r}"
            )

    def _replace(
        self,
        before: Sequence[str],
        after: Sequence[str],
        change: Callable[[], None],
        reach: Sequence[KpiEvent],
    ) -> set[BucketKey]:
        """Swap the contributions of ``before`` customers for those of ``after`` ``change``."""
        old = {customer: self.history(customer) for customer in before}
        change()
        new = {customer: self.history(customer) for customer in after}
        everything = [e for events in (*old.values(), *new.values()) for e in events]
        touched = self._reach(reach, everything)
        old_windows = [_Windowed(events) for events in old.values()]
        new_windows = [_Windowed(events) for events in new.values()]
        changed: set[BucketKey] = set()
        for granularity, bucket in touched:
            previous = previous_bucket(bucket, granularity)
            span = Period(previous.start, bucket.end)
            olds = [w.around(span) for w in old_windows]
            news = [w.around(span) for w in new_windows]
            # A channel none of these events is on gets nothing from these customers.
            scopes = {ALL_CHANNELS, *(e.channel for events in (*olds, *news) for e in events)}
            for scope in scopes:
                channel = None if scope == ALL_CHANNELS else scope
                before_parts = [contribution(e, bucket, previous, channel) for e in olds]
                after_parts = [contribution(e, bucket, previous, channel) for e in news]
                if before_parts == after_parts:
                    continue
                delta = EMPTY
                for part in before_parts:
                    delta = delta.minus(part)
                for part in after_parts:
                    delta = delta.plus(part)
                if delta == EMPTY:
                    continue
                key = (granularity, bucket.start, scope)
                changed.add(key)
                totals = self._counts.setdefault(key, _Totals())
                totals.add(delta)
                if totals.empty():
                    del self._counts[key]
        return changed

    def _reach(
        self, events: Sequence[KpiEvent], everything: Sequence[KpiEvent]
    ) -> set[tuple[Granularity, Period]]:
        tickets = {e.ticket.ticket_id for e in events if e.ticket is not None}
        moments = [e.at for e in events]
        moments += [e.at for e in everything if e.ticket and e.ticket.ticket_id in tickets]
        touched = set()
        for granularity in self.granularities:
            for moment in moments:
                bucket = bucket_of(moment, granularity)
                touched.add((granularity, bucket))
                touched.add((granularity, bucket_of(bucket.end, granularity)))
        return touched


class _Windowed:
    """A customer's events (sorted by time) cut to a span, ticket steps always kept.

    Contributions read only the bucket and the one before, except for tickets,
    whose opening may lie anywhere earlier.
    """

    def __init__(self, events: Sequence[KpiEvent]) -> None:
        self.events = events
        self.times = [e.at for e in events]
        self.tickets = [e for e in events if e.ticket is not None]

    def around(self, span: Period) -> list[KpiEvent]:
        inside = self.events[
            bisect_left(self.times, span.start) : bisect_left(self.times, span.end)
        ]
        outside = [e for e in self.tickets if e.at not in span]
        return [*inside, *outside]


class _Totals:
    """A bucket's running sums, changed in place (a copy per event would cost a bucket's size)."""

    def __init__(self) -> None:
        self.scalars = EMPTY  # its orders and answers stay empty; those two live below
        self.orders: dict[OrderRef, int] = {}
        self.answers: dict[AnswerRef, int] = {}

    def add(self, delta: KpiCounts) -> None:
        self.scalars = self.scalars.plus(replace(delta, orders={}, answers={}))
        _accumulate(self.orders, delta.orders)
        _accumulate(self.answers, delta.answers)

    def empty(self) -> bool:
        return self.scalars == EMPTY and not self.orders and not self.answers

    def snapshot(self) -> KpiCounts:
        return replace(self.scalars, orders=dict(self.orders), answers=dict(self.answers))


def _accumulate(into: dict[Key, int], delta: Mapping[Key, int]) -> None:
    for key, n in delta.items():
        value = into.get(key, 0) + n
        if value:
            into[key] = value
        else:
            del into[key]
