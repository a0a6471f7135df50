"""KPI contributions to UTC day buckets, and exact KPIs over any run of whole days from them.

The store keeps one bucket per (UTC day, scope), scope ``"*"`` (all channels)
or a channel. A bucket is a sum of *contributions*: each customer and each
order (a contributor) contributes counts computed from its own facts only
(``customer_contribution``, ``order_contribution``). When a contributor's facts
change (a new or late event, a merge, a split, an erasure), the store replaces
its old contribution by the new one: it adds their difference to the buckets
that differ (``difference``), so an event touches a handful of buckets and
never the whole base.

Distinct counts (customers, customers with an order, orders, repeat buyers)
are not additive over days, so each is kept as an *interval histogram*: a
customer active on day ``d`` whose previous active day was ``p`` files one
entry under ``c.<p>`` in day ``d``'s bucket, and a period ``[F, T)`` counts
the entries of its days with ``p < F`` — exactly one per customer active in
the period (their first active day in it). The same entry answers retention:
the customer was also active in the previous period ``[P, F)`` when
``P <= p``. Repeat buyers file ``rp.<b>_<a>`` on the day their second
distinct order in the period would be reached, counted when ``b < F <= a``
(``repeat_entries``). Days are numbers since 1970-01-01; ``-1`` means none.

Fields (dotted paths inside a bucket document):

- ``c.<p>`` customers, ``cv.<p>`` customers with an order, ``o.<p>`` orders
  (distinct ``order_id``), ``r.<currency>.<p>`` the revenue of each order's
  earliest event on that day, ``rp.<b>_<a>`` repeat buyers;
- ``a.<survey>.<score>`` answers (additive);
- tickets (additive; from the customer's full ticket traces, ``kpis.py``):
  ``t.rn``/``t.ru`` first responses and their microseconds on the opening day,
  ``t.sn``/``t.su``/``t.fcr`` resolutions, their microseconds and those
  resolved at first contact on the resolving day;
- per channel only, for the integration index: ``ii.n`` touches, ``ii.k``
  touches by an identified person, ``ho.<p>`` / ``hk.<p>`` handoffs entering
  or leaving the channel (and those keeping context) whose first touch was on
  day ``p`` (counted when ``F <= p``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.scoring.domain.kpi_facts import KpiEvent
from services.scoring.domain.kpis import ticket_traces

ALL = "*"
SEGMENT = "segment:"
NONE = -1
EPOCH = date(1970, 1, 1)
HANDOFF_WINDOW = timedelta(days=7)

Number = int | Decimal
Fields = dict[str, Number]
Contribution = dict[str, Fields]
"""bucket id (``<YYYY-MM-DD>|<scope>``) → dotted field → count or amount."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One stored event as the buckets read it: its KPI facts and whether the person was known."""

    event: KpiEvent
    identified: bool = False
    ingest_id: str | None = None
    """The ingest event the profile resolved (a split moves facts by it)."""

    @classmethod
    def from_data(cls, event_id: str, data: Mapping[str, Any]) -> Fact:
        """A resolved event's facts; the person is identified when the event names a user id,
        an email or a phone (not only an anonymous or device id)."""
        return cls(
            event=KpiEvent.from_data(event_id, data),
            identified=_identified(data),
            ingest_id=str(data["ingestId"]) if data.get("ingestId") else None,
        )


def _identified(data: Mapping[str, Any]) -> bool:
    if data.get("userId"):
        return True
    context = data.get("context")
    for traits in (
        data.get("traits"),
        context.get("traits") if isinstance(context, Mapping) else None,
    ):
        if isinstance(traits, Mapping) and (traits.get("email") or traits.get("phone")):
            return True
    return False


def day_number(moment: datetime) -> int:
    return (moment.astimezone(UTC).date() - EPOCH).days


def day_start(number: int) -> datetime:
    return datetime.combine(EPOCH + timedelta(days=number), datetime.min.time(), UTC)


def bucket_id(day: int, scope: str) -> str:
    return f"{(EPOCH + timedelta(days=day)).isoformat()}|{scope}"


def parse_bucket_id(text: str) -> tuple[int, str]:
    day, _, scope = text.partition("|")
    return (date.fromisoformat(day) - EPOCH).days, scope


def month_rollup(days: Mapping[str, Fields]) -> Contribution:
    """Day buckets summed per calendar month (``<YYYY-MM>|<scope>``).

    Every field's rule depends only on its entry and on whether its day lies in the
    period, so a month that lies wholly inside a period (or wholly inside the period
    before it) can be read as one bucket: a year is 12 reads instead of 365.
    """
    out: Contribution = {}
    for bucket, fields in days.items():
        day, _, scope = bucket.partition("|")
        into = out.setdefault(f"{day[:7]}|{scope}", {})
        for name, value in fields.items():
            into[name] = into.get(name, 0) + value
    return out


def parse_month_id(text: str) -> tuple[int, str]:
    """(day number of the month's first day, scope)."""
    month, _, scope = text.partition("|")
    return (date.fromisoformat(f"{month}-01") - EPOCH).days, scope


def _add(out: Contribution, day: int, scope: str, name: str, value: Number = 1) -> None:
    if not value:
        return
    fields = out.setdefault(bucket_id(day, scope), {})
    fields[name] = fields.get(name, 0) + value


def _previous_days(days: Iterable[int]) -> list[tuple[int, int]]:
    """(day, the day before it in the list or NONE) for each distinct day, ascending."""
    ordered = sorted(set(days))
    return list(zip(ordered, [NONE, *ordered], strict=False))


def _sorted(facts: Iterable[Fact]) -> list[Fact]:
    unique = {f.event.id: f for f in facts}
    return sorted(unique.values(), key=lambda f: (f.event.at, f.event.id))


def segment_scope(segment_id: str) -> str:
    return f"{SEGMENT}{segment_id}"


def customer_contribution(facts: Iterable[Fact], segments: Iterable[str] = ()) -> Contribution:
    """One customer's counts in every bucket, from all of their facts (any order, duplicates
    ok); a member of ``segments`` also counts, on all channels, in each segment's scope."""
    ordered = _sorted(facts)
    events = [f.event for f in ordered]
    groups = sorted(segment_scope(s) for s in set(segments))
    out: Contribution = {}
    for scope in (ALL, *sorted({e.channel for e in events}), *groups):
        whole = scope == ALL or scope.startswith(SEGMENT)
        scoped = [e for e in events if whole or e.channel == scope]
        for day, before in _previous_days(day_number(e.at) for e in scoped):
            _add(out, day, scope, f"c.{before}")
        ordered_days = [day_number(e.at) for e in scoped if e.order is not None]
        for day, before in _previous_days(ordered_days):
            _add(out, day, scope, f"cv.{before}")
        for day, (low, high) in repeat_entries(scoped):
            _add(out, day, scope, f"rp.{low}_{high}")
        for e in scoped:
            if e.survey is not None:
                _add(out, day_number(e.at), scope, f"a.{e.survey.survey}.{e.survey.score}")
    _tickets(out, events, groups)
    _integration(out, ordered)
    return out


def repeat_entries(events: Sequence[KpiEvent]) -> list[tuple[int, tuple[int, int]]]:
    """(day, (b, a)) entries: for any F in (b, a], ``day`` is where a second order is reached.

    With ``last(o, d)`` the last day ≤ d with an event of order o, the period
    starting F has two distinct orders by day d when the second largest
    ``last(o, d)`` is ≥ F; ``a`` is that value at d, ``b`` at d - 1.
    """
    days_of: dict[str, list[int]] = {}
    for e in events:
        if e.order is not None:
            days_of.setdefault(e.order.order_id, []).append(day_number(e.at))
    if len(days_of) < 2:
        return []
    entries = []
    for day in sorted({d for days in days_of.values() for d in days}):
        high, low = _second_last(days_of.values(), day), _second_last(days_of.values(), day - 1)
        if high > low:
            entries.append((day, (low, high)))
    return entries


def _second_last(days_of: Iterable[list[int]], until: int) -> int:
    lasts = sorted(max((d for d in days if d <= until), default=NONE) for days in days_of)
    return lasts[-2]


def _tickets(out: Contribution, events: Sequence[KpiEvent], groups: Sequence[str]) -> None:
    for trace in ticket_traces(events).values():
        for scope in (ALL, trace.channel, *groups):
            if trace.first_response_at is not None:
                day = day_number(trace.opened_at)
                _add(out, day, scope, "t.rn")
                _add(out, day, scope, "t.ru", _us(trace.first_response_at - trace.opened_at))
            if trace.resolved_at is not None:
                day = day_number(trace.resolved_at)
                span = max(trace.resolved_at - trace.opened_at, timedelta(0))
                _add(out, day, scope, "t.sn")
                _add(out, day, scope, "t.su", _us(span))
                _add(out, day, scope, "t.fcr", 0 if trace.reopened else 1)


def _integration(out: Contribution, ordered: Sequence[Fact]) -> None:
    before: Fact | None = None
    for fact in ordered:
        event = fact.event
        day = day_number(event.at)
        _add(out, day, event.channel, "ii.n")
        _add(out, day, event.channel, "ii.k", int(fact.identified))
        previous, before = before, fact
        if previous is None or previous.event.channel == event.channel:
            continue
        if event.at - previous.event.at > HANDOFF_WINDOW:
            continue
        keeps = int(previous.identified and fact.identified)
        first = day_number(previous.event.at)
        for channel in (previous.event.channel, event.channel):
            _add(out, day, channel, f"ho.{first}")
            _add(out, day, channel, f"hk.{first}", keeps)


def order_contribution(
    events: Iterable[KpiEvent], segments_of: Mapping[str, Collection[str]] | None = None
) -> Contribution:
    """One order's counts (by ``order_id``, whoever placed it): per scope, each day it has
    events on, with the revenue of its earliest event that day. In a segment's scope only
    the events of its members count (``segments_of``: customer id → segment ids)."""
    ordered = sorted({e.id: e for e in events}.values(), key=lambda e: (e.at, e.id))
    member = segments_of or {}
    groups = {segment_scope(s): s for e in ordered for s in member.get(e.customer_id, ())}
    out: Contribution = {}
    for scope in (ALL, *sorted({e.channel for e in ordered}), *sorted(groups)):
        earliest: dict[int, KpiEvent] = {}
        for e in ordered:
            if e.order is not None and _counts_in(e, scope, groups, member):
                earliest.setdefault(day_number(e.at), e)
        for day, before in _previous_days(earliest):
            _add(out, day, scope, f"o.{before}")
            order = earliest[day].order
            if order is not None and order.currency:
                _add(out, day, scope, f"r.{order.currency}.{before}", order.amount)
    return out


def _counts_in(
    event: KpiEvent,
    scope: str,
    groups: Mapping[str, str],
    member: Mapping[str, Collection[str]],
) -> bool:
    if scope == ALL:
        return True
    if scope in groups:
        return groups[scope] in member.get(event.customer_id, ())
    return event.channel == scope


def difference(old: Mapping[str, Fields], new: Mapping[str, Fields]) -> Contribution:
    """What to add to the buckets to replace ``old`` by ``new`` (only buckets that change)."""
    out: Contribution = {}
    for bucket in sorted({*old, *new}):
        before, after = old.get(bucket, {}), new.get(bucket, {})
        fields = {
            name: after.get(name, 0) - before.get(name, 0)
            for name in sorted({*before, *after})
            if after.get(name, 0) != before.get(name, 0)
        }
        if fields:
            out[bucket] = fields
    return out


def combine(parts: Iterable[Mapping[str, Fields]]) -> Contribution:
    """The sum of several contributions or differences."""
    out: Contribution = {}
    for part in parts:
        for bucket, fields in part.items():
            for name, value in fields.items():
                _add_to(out.setdefault(bucket, {}), name, value)
    kept = {bucket: {k: v for k, v in fields.items() if v} for bucket, fields in out.items()}
    return {bucket: fields for bucket, fields in kept.items() if fields}


def _add_to(fields: Fields, name: str, value: Number) -> None:
    fields[name] = fields.get(name, 0) + value


def _us(span: timedelta) -> int:
    return span // timedelta(microseconds=1)
