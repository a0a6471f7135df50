"""Funnels (DESIGN.md §5): how many customers reached each step, and who dropped where.

The definition is DESIGN's: steps are track event names (Segment's or
snake_case). In the default ``ordered`` mode a customer counts at step k when
events of steps 1..k happened in that order at strictly increasing times, step
1 inside ``[start, end)`` and step k within ``within`` of it (inclusive).
Other events may happen in between. Beyond DESIGN:

- ``strict``: as ``ordered``, and each step is the customer's very next
  track, page or screen event after the previous step (nothing else in between,
  by timeline order; identify, group and alias calls are not behaviour).
- ``any_order``: steps 1..k all happened, each by a distinct event, in any
  order, the earliest inside the period and all within ``within`` of it.
- exclusions: an :class:`Exclusion` voids a path from its ``before_step`` on
  when its event happened strictly between the path's ``after_step`` and
  ``before_step`` events (``ordered`` and ``strict`` only).

A customer may start the funnel several times in the period; they count once,
at the furthest step any start reaches. Time to convert is measured from the
earliest start that completes the funnel to its earliest completion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from services.journey.domain import JourneyError
from services.journey.domain.interactions import Interaction, by_customer
from services.journey.domain.percentiles import percentile
from shared.normalize.canonical import CanonicalError, snake_case

FunnelMode = Literal["ordered", "strict", "any_order"]
DEFAULT_WITHIN = timedelta(hours=336)
BEHAVIOURAL = frozenset({"track", "page", "screen"})


class FunnelError(JourneyError):
    """A funnel query is malformed; the message names the argument and how to fix it."""


def _canonical(name: str, what: str) -> str:
    try:
        return snake_case(name)
    except CanonicalError as exc:
        raise FunnelError(f"{what}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Customers who did ``event`` between steps ``after_step`` and ``before_step`` (1-based;
    ``before_step`` None = the last step) do not count from ``before_step`` on."""

    event: str
    after_step: int = 1
    before_step: int | None = None


@dataclass(frozen=True, slots=True)
class FunnelQuery:
    steps: tuple[str, ...]
    start: datetime
    end: datetime
    within: timedelta = DEFAULT_WITHIN
    mode: FunnelMode = "ordered"
    exclusions: tuple[Exclusion, ...] = ()
    events: tuple[str, ...] = field(init=False, repr=False, compare=False)
    excluded: tuple[tuple[str, int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.steps:
            raise FunnelError(
                "`steps` is empty; name at least one track event such as 'Order Completed'"
            )
        if self.end <= self.start:
            raise FunnelError(
                f"`from` ({self.start.isoformat()}) must be before `to` ({self.end.isoformat()})"
            )
        if self.within < timedelta(0):
            raise FunnelError("`withinHours` must be zero or more")
        if self.mode not in ("ordered", "strict", "any_order"):
            raise FunnelError(f"unknown mode {self.mode!r}; use ordered, strict or any_order")
        if self.exclusions and self.mode == "any_order":
            raise FunnelError(
                "exclusions need an order between steps; use mode ordered or strict, "
                "or drop the exclusions"
            )
        size = len(self.steps)
        events = tuple(_canonical(step, f"step {n}") for n, step in enumerate(self.steps, 1))
        excluded = []
        for exclusion in self.exclusions:
            before = size if exclusion.before_step is None else exclusion.before_step
            if not 1 <= exclusion.after_step < before <= size:
                raise FunnelError(
                    f"exclusion of {exclusion.event!r}: steps {exclusion.after_step}..{before} "
                    f"must satisfy 1 <= after_step < before_step <= {size}"
                )
            name = _canonical(exclusion.event, "exclusion event")
            excluded.append((name, exclusion.after_step - 1, before - 1))
        object.__setattr__(self, "events", events)
        object.__setattr__(self, "excluded", tuple(excluded))


@dataclass(frozen=True, slots=True)
class FunnelStep:
    name: str
    customers: int
    conversion_from_previous: float | None
    drop_off: int
    dropped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Funnel:
    steps: tuple[FunnelStep, ...]
    depths: Mapping[str, int]
    times_to_convert: tuple[timedelta, ...]

    def time_to_convert(self, q: float) -> timedelta | None:
        """The q-th percentile (nearest rank) of time to convert; None without conversions."""
        return percentile(self.times_to_convert, q)


@dataclass(frozen=True, slots=True)
class Reach:
    """How far one customer got: steps reached, and time to convert when they completed."""

    depth: int
    time_to_convert: timedelta | None


def _is_step(item: Interaction, event: str) -> bool:
    return item.kind == "track" and item.event == event


@dataclass(frozen=True, slots=True)
class _Paths:
    """One customer's timeline seen as paths through an ordered funnel's steps."""

    query: FunnelQuery
    items: Sequence[Interaction]
    candidates: list[list[int]]
    """Per step, the timeline positions of its event."""
    exclusion_times: dict[str, list[datetime]]

    @classmethod
    def of(cls, query: FunnelQuery, items: Sequence[Interaction]) -> _Paths:
        if query.mode == "strict":
            items = [item for item in items if item.kind in BEHAVIOURAL]
        candidates = [
            [p for p, item in enumerate(items) if _is_step(item, event)] for event in query.events
        ]
        exclusion_times = {
            name: [item.timestamp for item in items if _is_step(item, name)]
            for name, _, _ in query.excluded
        }
        return cls(query, items, candidates, exclusion_times)

    def anchors(self) -> list[int]:
        """Positions of step 1 inside the period: where a path may start."""
        query, items = self.query, self.items
        return [p for p in self.candidates[0] if query.start <= items[p].timestamp < query.end]

    def allowed(self, p: int, q: int, step: int, upto: int) -> bool:
        """Whether ``step`` at ``q`` may follow the previous step at ``p`` on a path to ``upto``."""
        before, after = self.items[p].timestamp, self.items[q].timestamp
        if after <= before or (self.query.mode == "strict" and q != p + 1):
            return False
        return not any(
            self._excluded(name, last, step, before, after)
            for name, first, last in self.query.excluded
            if last <= upto and first < step <= last
        )

    def _excluded(self, name: str, last: int, step: int, before: datetime, after: datetime) -> bool:
        """Whether exclusion ``name`` (voiding steps up to ``last``) happened between the two."""
        return any(
            before < moment < after or (moment == after and step < last)
            for moment in self.exclusion_times[name]
        )

    def frontier(self, anchor: int, upto: int) -> list[int]:
        """Where paths from ``anchor`` can be at step ``upto`` (empty when none gets there)."""
        reach = [anchor]
        limit = self.items[anchor].timestamp + self.query.within
        for step in range(1, upto + 1):
            reach = [
                q
                for q in self.candidates[step]
                if self.items[q].timestamp <= limit
                and any(self.allowed(p, q, step, upto) for p in reach)
            ]
            if not reach:
                break
        return reach


def _ordered_reach(query: FunnelQuery, items: Sequence[Interaction]) -> Reach:
    paths = _Paths.of(query, items)
    anchors = paths.anchors()
    if not anchors:
        return Reach(0, None)
    size = len(query.events)
    depth = 1
    while depth < size and any(paths.frontier(anchor, depth) for anchor in anchors):
        depth += 1
    if depth < size:
        return Reach(depth, None)
    if size == 1:
        return Reach(1, timedelta(0))
    completions = []
    for anchor in anchors:
        ends = paths.frontier(anchor, size - 1)
        if ends:
            start = paths.items[anchor].timestamp
            completions.append((start, min(paths.items[q].timestamp for q in ends) - start))
    if not completions:
        return Reach(size - 1, None)
    return Reach(size, min(completions)[1])


def _any_order_reach(query: FunnelQuery, items: Sequence[Interaction]) -> Reach:
    events = query.events
    best = Reach(0, None)
    for k in range(1, len(events) + 1):
        needed = Counter(events[:k])
        completions = []
        for x, anchor in enumerate(items):
            if not (anchor.kind == "track" and anchor.event in needed):
                continue
            if not query.start <= anchor.timestamp < query.end:
                continue
            rest = needed - Counter({anchor.event: 1})
            limit = anchor.timestamp + query.within
            latest = anchor.timestamp
            for name, count in rest.items():
                times = sorted(
                    item.timestamp
                    for y, item in enumerate(items)
                    if y != x
                    and _is_step(item, name)
                    and anchor.timestamp <= item.timestamp <= limit
                )
                if len(times) < count:
                    break
                latest = max(latest, times[count - 1])
            else:
                completions.append((anchor.timestamp, latest - anchor.timestamp))
        if not completions:
            break
        best = Reach(k, min(completions)[1])
    return best if best.depth == len(events) else Reach(best.depth, None)


def reach(query: FunnelQuery, items: Sequence[Interaction]) -> Reach:
    """How far one customer got, given their timeline (event-time order, unique ids)."""
    if query.mode == "any_order":
        return _any_order_reach(query, items)
    return _ordered_reach(query, items)


def funnel(query: FunnelQuery, interactions: Iterable[Interaction]) -> Funnel:
    """The funnel over every customer in ``interactions``."""
    return _assemble(
        query, {c: reach(query, items) for c, items in by_customer(interactions).items()}
    )


def _assemble(query: FunnelQuery, reaches: Mapping[str, Reach]) -> Funnel:
    depths = {customer: found.depth for customer, found in reaches.items() if found.depth}
    steps = []
    previous: set[str] = set()
    for k, name in enumerate(query.steps, 1):
        here = {customer for customer, depth in depths.items() if depth >= k}
        if k == 1:
            steps.append(FunnelStep(name, len(here), None, 0, ()))
        else:
            rate = len(here) / len(previous) if previous else None
            dropped = tuple(sorted(previous - here))
            steps.append(FunnelStep(name, len(here), rate, len(dropped), dropped))
        previous = here
    times = sorted(
        found.time_to_convert for found in reaches.values() if found.time_to_convert is not None
    )
    return Funnel(tuple(steps), depths, tuple(times))


Breakdown = Callable[[str, Sequence[Interaction]], Iterable[str]]


def breakdown(
    query: FunnelQuery, interactions: Iterable[Interaction], key: Breakdown
) -> dict[str, Funnel]:
    """One funnel per group; ``key`` names the groups of a customer given their timeline."""
    groups: dict[str, dict[str, Reach]] = {}
    for customer, items in by_customer(interactions).items():
        found = reach(query, items)
        if not found.depth:
            continue
        for label in key(customer, items):
            groups.setdefault(label, {})[customer] = found
    return {label: _assemble(query, groups[label]) for label in sorted(groups)}


def by_entry_channel(query: FunnelQuery) -> Breakdown:
    """The channel of the customer's first step-1 event in the period."""

    def key(customer: str, items: Sequence[Interaction]) -> Iterable[str]:
        for item in items:
            if _is_step(item, query.events[0]) and query.start <= item.timestamp < query.end:
                return (item.channel,)
        return ("none",)

    return key


def by_first_touch(customer: str, items: Sequence[Interaction]) -> Iterable[str]:
    """The channel of the customer's first interaction of all."""
    return (items[0].channel,) if items else ("none",)


def by_segment(memberships: Mapping[str, Iterable[str]]) -> Breakdown:
    """Each segment the customer belongs to (a customer may count in several), else "none"."""

    def key(customer: str, items: Sequence[Interaction]) -> Iterable[str]:
        return tuple(sorted(set(memberships.get(customer, ())))) or ("none",)

    return key
