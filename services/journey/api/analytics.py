"""Journey analytics in the graph: funnel, paths, stage metrics, continuity, pain points.

Each resolver reads what its period needs through the analytics store (funnels only
the touchpoints of their step and exclusion events) and computes with the pure
domain (``funnels``, ``paths``, ``stage_metrics``, ``frictions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, cast

import strawberry

from services.journey.adapters.ports import JourneyProgress
from services.journey.api.context import READ, JourneyInfo, bad_input
from services.journey.domain import JourneyError
from services.journey.domain.attribution import AttributionQuery, Model, attribute
from services.journey.domain.frictions import tally
from services.journey.domain.funnels import (
    Breakdown,
    Exclusion,
    FunnelMode,
    FunnelQuery,
    by_entry_channel,
    by_first_touch,
)
from services.journey.domain.funnels import Funnel as FunnelValue
from services.journey.domain.funnels import breakdown as funnel_breakdown
from services.journey.domain.funnels import funnel as compute_funnel
from services.journey.domain.interactions import (
    Interaction,
    canonical_event,
    from_touchpoint,
    stored,
)
from services.journey.domain.paths import (
    PathCount,
    by_channel,
    by_event,
    paths_into,
    paths_out_of,
    transitions,
)
from services.journey.domain.stage_metrics import time_in_stage
from services.journey.domain.stages import Progress
from shared.subgraph import require_scope

From = Annotated[datetime, strawberry.argument(name="from")]
_JUST_AFTER = timedelta(microseconds=1)


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


@strawberry.type
class FunnelStep:
    name: str
    customers: int
    conversion_from_previous: float | None
    drop_off: int
    dropped: strawberry.Private[tuple[str, ...]]

    @strawberry.field
    def dropped_customers(self, first: int = 100) -> list[strawberry.ID]:
        """Customers who reached the previous step but not this one (ids, sorted)."""
        return [strawberry.ID(c) for c in self.dropped[: max(first, 0)]]


@strawberry.type
class TimeToConvert:
    """Time from step 1 to the last step of customers who completed the funnel."""

    samples: int
    p25_seconds: float | None
    p50_seconds: float | None
    p75_seconds: float | None
    p90_seconds: float | None


@strawberry.type
class FunnelGroup:
    key: str
    funnel: Funnel


@strawberry.type
class Funnel:
    steps: list[FunnelStep]
    time_to_convert: TimeToConvert
    breakdown: list[FunnelGroup]

    @classmethod
    def of(cls, value: FunnelValue, groups: Sequence[FunnelGroup] = ()) -> Funnel:
        return cls(
            steps=[
                FunnelStep(
                    name=s.name,
                    customers=s.customers,
                    conversion_from_previous=s.conversion_from_previous,
                    drop_off=s.drop_off,
                    dropped=s.dropped,
                )
                for s in value.steps
            ],
            time_to_convert=TimeToConvert(
                samples=len(value.times_to_convert),
                p25_seconds=_seconds(value.time_to_convert(25)),
                p50_seconds=_seconds(value.time_to_convert(50)),
                p75_seconds=_seconds(value.time_to_convert(75)),
                p90_seconds=_seconds(value.time_to_convert(90)),
            ),
            breakdown=list(groups),
        )


@strawberry.input
class FunnelExclusion:
    """Customers who did ``event`` between steps ``afterStep`` and ``beforeStep`` (1-based;
    default the last step) do not count from ``beforeStep`` on."""

    event: str
    after_step: int = 1
    before_step: int | None = None


def _breakdown(name: str | None, query: FunnelQuery) -> Breakdown | None:
    if name is None:
        return None
    if name == "channel":
        return by_entry_channel(query)
    if name == "first_touch":
        return by_first_touch
    raise JourneyError(f"unknown breakdown {name!r}; use channel or first_touch")


async def _interactions(
    info: JourneyInfo,
    start: datetime,
    end: datetime,
    events: Sequence[str] | None,
    segment_id: str | None = None,
) -> list[Interaction]:
    """The touchpoints of the period as interactions, of ``segment_id``'s members only
    when given (membership as the profile last announced it)."""
    members = await info.context.members(segment_id)
    points = await info.context.need_analytics().touchpoints_between(start, end, events=events)
    return [stored(p) for p in points if members is None or p.customer_id in members]


async def funnel(
    info: JourneyInfo,
    steps: list[str],
    from_: From,
    to: datetime,
    within_hours: int = 336,
    mode: str = "ordered",
    exclusions: list[FunnelExclusion] | None = None,
    channel: str | None = None,
    breakdown: str | None = None,
    segment_id: strawberry.ID | None = None,
) -> Funnel:
    """DESIGN.md §5's funnel: a customer counts at step k when events of steps 1..k
    happened in order at strictly increasing times, step 1 in ``[from, to)`` and step k
    within ``withinHours`` of it. ``mode`` ordered (default), strict (each step the very
    next event) or any_order; ``channel`` keeps that channel's touchpoints only;
    ``breakdown`` by entry ``channel`` or ``first_touch`` (the first touchpoint read,
    i.e. in the period and its conversion window); ``segmentId`` keeps its members."""
    require_scope(info.context.principal, READ)
    try:
        query = FunnelQuery(
            tuple(steps),
            from_,
            to,
            timedelta(hours=within_hours),
            cast(FunnelMode, mode),  # FunnelQuery checks it
            tuple(Exclusion(e.event, e.after_step, e.before_step) for e in exclusions or ()),
        )
        key = _breakdown(breakdown, query)
    except JourneyError as exc:
        raise bad_input(exc) from exc
    names = None if mode == "strict" else [*query.events, *(e[0] for e in query.excluded)]
    end = to + query.within + _JUST_AFTER
    items = await _interactions(info, from_, end, names, segment_id)
    if channel is not None:
        items = [item for item in items if item.channel == channel]
    groups = []
    if key is not None:
        groups = [
            FunnelGroup(key=label, funnel=Funnel.of(value))
            for label, value in funnel_breakdown(query, items, key).items()
        ]
    return Funnel.of(compute_funnel(query, items), groups)


@strawberry.type
class Transition:
    source: str
    target: str
    count: int


@strawberry.type
class PathFrequency:
    path: list[str]
    count: int


@strawberry.type
class Paths:
    transitions: list[Transition]
    into: list[PathFrequency]
    out_of: list[PathFrequency]


def _frequencies(found: Sequence[PathCount]) -> list[PathFrequency]:
    return [PathFrequency(path=list(p.path), count=p.count) for p in found]


async def paths(
    info: JourneyInfo,
    from_: From,
    to: datetime,
    by: str = "event",
    top: int = 10,
    session_gap_minutes: int = 30,
    step: str | None = None,
    depth: int = 3,
    channel: str | None = None,
    segment_id: strawberry.ID | None = None,
) -> Paths:
    """The ``top`` most frequent transitions between touchpoints (``by`` event or channel)
    in ``[from, to)``, within sessions split by ``sessionGapMinutes`` of inactivity (0: a
    customer's whole period is one path); with ``step`` (an event name or channel), the
    paths of up to ``depth`` nodes into and out of it."""
    require_scope(info.context.principal, READ)
    if by not in ("event", "channel"):
        raise bad_input(JourneyError(f"`by` must be event or channel, got {by!r}"))
    node = by_event if by == "event" else by_channel
    gap = timedelta(minutes=session_gap_minutes) if session_gap_minutes > 0 else None
    items = await _interactions(info, from_, to, None, segment_id)
    if channel is not None:
        items = [item for item in items if item.channel == channel]
    try:
        moves = transitions(items, node, session_gap=gap, top=top)
        into: tuple[PathCount, ...] = ()
        out_of: tuple[PathCount, ...] = ()
        if step is not None:
            target = canonical_event(step) if by == "event" else step
            into = paths_into(items, target, node, depth=depth, session_gap=gap, top=top)
            out_of = paths_out_of(items, target, node, depth=depth, session_gap=gap, top=top)
    except JourneyError as exc:
        raise bad_input(exc) from exc
    return Paths(
        transitions=[Transition(source=t.source, target=t.target, count=t.count) for t in moves],
        into=_frequencies(into),
        out_of=_frequencies(out_of),
    )


@strawberry.type
class StageTime:
    journey_id: str
    stage: str
    samples: int
    p50_seconds: float | None
    p90_seconds: float | None


@strawberry.type
class StageMetrics:
    stages: list[StageTime]
    continuity_rate: float | None
    """Share of journey cycles spanning two channels or more without a break."""


def _in_period(found: JourneyProgress, start: datetime | None, end: datetime | None) -> Progress:
    visits = tuple(
        v
        for v in found.history
        if (start is None or v.entered_at >= start) and (end is None or v.entered_at < end)
    )
    return Progress("", found.journey_id, found.version, visits)


async def stage_metrics(
    info: JourneyInfo,
    journey_id: str | None = None,
    from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
    to: datetime | None = None,
) -> StageMetrics:
    """Time in stage (p50/p90 of finished visits entered in the period) per journey and
    stage, and the cross-channel continuity rate of the journeys' cycles."""
    require_scope(info.context.principal, READ)
    every = await info.context.need_analytics().all_progress()
    mine = [p for p in every if journey_id is None or p.journey_id == journey_id]
    times = time_in_stage(_in_period(p, from_, to) for p in mine)
    threads = [t for p in mine for t in p.threads]
    rate = sum(t.continuous_cross_channel for t in threads) / len(threads) if threads else None
    return StageMetrics(
        stages=[
            StageTime(
                journey_id=t.journey_id,
                stage=t.stage,
                samples=t.samples,
                p50_seconds=_seconds(t.p50),
                p90_seconds=_seconds(t.p90),
            )
            for t in times.values()
        ],
        continuity_rate=rate,
    )


@strawberry.type
class PainPoint:
    stage: str
    channel: str
    kind: str
    count: int


async def pain_points(
    info: JourneyInfo, from_: From, to: datetime, segment_id: strawberry.ID | None = None
) -> list[PainPoint]:
    """Frictions detected in ``[from, to)`` by the stage the customer was in, the channel
    and the kind; most frequent first (stage or channel ``none`` when unknown); of
    ``segmentId``'s members only when given."""
    require_scope(info.context.principal, READ)
    members = await info.context.members(segment_id)
    found = [
        f
        for f in await info.context.need_analytics().frictions_between(from_, to)
        if members is None or f.customer_id in members
    ]
    return [
        PainPoint(stage=p.stage, channel=p.channel, kind=p.kind, count=p.count)
        for p in tally((f.stage, f.channel, f.kind) for f in found)
    ]


@strawberry.type
class ChannelCredit:
    channel: str
    conversions: float
    revenue: float | None


async def attribution(
    info: JourneyInfo,
    conversion: str,
    from_: From,
    to: datetime,
    model: str = "linear",
    lookback_days: int = 30,
) -> list[ChannelCredit]:
    """DESIGN.md §5: each ``conversion`` event in ``[from, to)`` credits (1, and its
    ``revenue`` or ``total``) the channels of the customer's touchpoints in the
    ``lookbackDays`` before it, the conversion included, under ``model``: first, last,
    linear, position (40/20/40), time_decay (half-life 7 days) or markov (removal
    effects over channel paths)."""
    require_scope(info.context.principal, READ)
    try:
        query = AttributionQuery(
            conversion,
            from_,
            to,
            cast(Model, model),  # AttributionQuery checks it
            timedelta(days=lookback_days),
        )
    except JourneyError as exc:
        raise bad_input(exc) from exc
    analytics = info.context.need_analytics()
    converted = await analytics.touchpoints_between(
        from_, to, events=[query.event], properties=True
    )
    full = {point.id: from_touchpoint(point) for point in converted}
    window = await analytics.touchpoints_between(from_ - query.lookback, to)
    items = [full.get(point.id) or stored(point) for point in window]
    return [
        ChannelCredit(channel=c.channel, conversions=c.conversions, revenue=c.revenue)
        for c in attribute(query, items)
    ]
