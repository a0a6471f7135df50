"""The journey subgraph: extends ``Customer`` with ``timeline``, ``journeys`` and ``frictions``;
serves journey definitions, triggers and the journey analytics (DESIGN.md §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from services.journey.adapters.ports import (
    JourneyProgress as ProgressValue,
)
from services.journey.adapters.ports import (
    Timeline,
    TimelineFilter,
    TimelinePage,
    position,
)
from services.journey.api import analytics, definitions, export
from services.journey.api.context import READ, JourneyContext, JourneyInfo, bad_input
from services.journey.api.loaders import TimelineRequest
from services.journey.domain import JourneyError
from services.journey.domain.timeline import Position, decode_cursor, page_size
from services.journey.domain.touchpoints import Touchpoint as TouchpointValue
from shared.events import utcnow
from shared.subgraph import require_scope

__all__ = ["JourneyContext", "schema"]


@strawberry.type
class Touchpoint:
    id: strawberry.ID
    event_id: str
    type: str
    event: str | None
    """The snake_case event name (a page's or screen's name)."""
    event_name: str | None
    """The name as sent (``Order Completed``)."""
    channel: str
    timestamp: datetime
    properties: JSON

    @classmethod
    def of(cls, value: TouchpointValue) -> Touchpoint:
        return cls(
            id=strawberry.ID(value.id),
            event_id=value.event_id,
            type=value.kind,
            event=value.name,
            event_name=value.event_name,
            channel=value.channel,
            timestamp=value.timestamp,
            properties=JSON(dict(value.properties)),
        )


@strawberry.type
class TouchpointEdge:
    cursor: str
    node: Touchpoint


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class TouchpointConnection:
    edges: list[TouchpointEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class StageVisit:
    stage: str
    cycle: int
    entered_at: datetime
    exited_at: datetime | None
    time_in_stage_seconds: float
    """Up to now for the stage the customer is still in."""
    channel: str
    entered_by: str


@strawberry.type
class Handoff:
    cycle: int
    from_channel: str
    to_channel: str
    from_touchpoint_id: str
    to_touchpoint_id: str
    at: datetime
    gap_seconds: float


@strawberry.type
class JourneyProgress:
    journey_id: strawberry.ID
    journey_version: int
    name: str
    stage: str
    entered_at: datetime
    updated_at: datetime
    history: list[StageVisit]
    handoffs: list[Handoff]

    @classmethod
    def of(cls, value: ProgressValue, now: datetime) -> JourneyProgress:
        return cls(
            journey_id=strawberry.ID(value.journey_id),
            journey_version=value.version,
            name=value.name,
            stage=value.stage,
            entered_at=value.entered_at,
            updated_at=value.updated_at,
            history=[
                StageVisit(
                    stage=v.stage,
                    cycle=v.cycle,
                    entered_at=v.entered_at,
                    exited_at=v.left_at,
                    time_in_stage_seconds=v.duration(now).total_seconds(),
                    channel=v.channel,
                    entered_by=v.entered_by,
                )
                for v in value.history
            ],
            handoffs=[
                Handoff(
                    cycle=h.cycle,
                    from_channel=h.from_channel,
                    to_channel=h.to_channel,
                    from_touchpoint_id=h.from_id,
                    to_touchpoint_id=h.to_id,
                    at=h.at,
                    gap_seconds=h.gap.total_seconds(),
                )
                for h in value.handoffs
            ],
        )


@strawberry.type
class Friction:
    id: strawberry.ID
    kind: str
    description: str
    stage: str | None
    channel: str | None
    journey_id: str | None
    detected_at: datetime
    evidence: list[str]
    """The ids of the touchpoints that show the friction."""
    touchpoint_ids: list[str]


def _connection(timeline: Timeline, *, backwards: bool, cursor_given: bool) -> TouchpointConnection:
    page = timeline.page
    edges = [
        TouchpointEdge(cursor=position(t).cursor(), node=Touchpoint.of(t)) for t in page.touchpoints
    ]
    more_older = cursor_given if backwards else page.has_next
    more_newer = page.has_next if backwards else cursor_given
    return TouchpointConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more_older,
            has_previous_page=more_newer,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=timeline.total,
    )


def _cursor(value: str | None) -> Position | None:
    return decode_cursor(value) if value else None


async def _timeline(
    info: JourneyInfo,
    customer_id: str,
    page: tuple[int | None, Position | None, int | None, Position | None],
    where: TimelineFilter,
) -> TouchpointConnection:
    first, after, last, before = page
    store = info.context.store
    if last is None and before is None:
        size = page_size(first)
        if where.only_channel:
            timeline = await info.context.loaders.timeline.load(
                TimelineRequest(customer_id, first=size, after=after, channel=where.channel)
            )
        else:
            timeline = await store.filtered(customer_id, first=size, after=after, where=where)
        return _connection(timeline, backwards=False, cursor_given=after is not None)
    if first is not None or after is not None:
        raise JourneyError(
            "pass `first`/`after` to page towards older touchpoints or `last`/`before` "
            "towards newer ones, not both"
        )
    size = page_size(last)
    newer = await store.newer(customer_id, last=size, before=before, where=where)
    total = (await store.filtered(customer_id, first=0, after=None, where=where)).total
    return _connection(
        Timeline(TimelinePage(newer.touchpoints, newer.has_next), total),
        backwards=True,
        cursor_given=before is not None,
    )


From = Annotated[datetime | None, strawberry.argument(name="from")]


@strawberry.federation.type(keys=["id"])
class Customer:
    id: strawberry.ID

    @strawberry.field
    async def timeline(
        self,
        info: JourneyInfo,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        channel: str | None = None,
        event: str | None = None,
        from_: From = None,
        to: datetime | None = None,
    ) -> TouchpointConnection:
        """Touchpoints newest first (event time), Relay-style pages both ways: ``first`` /
        ``after`` towards older ones (default the 20 newest), ``last`` / ``before``
        towards newer ones. Filters: ``channel``, ``event`` (as sent or snake_case), event
        time in ``[from, to)``."""
        try:
            page = (first, _cursor(after), last, _cursor(before))
            where = TimelineFilter(channel=channel, event=event, start=from_, end=to)
            return await _timeline(info, str(self.id), page, where)
        except JourneyError as exc:
            raise bad_input(exc) from exc

    @strawberry.field
    async def journeys(self, info: JourneyInfo) -> list[JourneyProgress]:
        """The customer's progress in each journey they entered (current definitions)."""
        now = utcnow()
        found = await info.context.loaders.journeys.load(str(self.id))
        return [JourneyProgress.of(p, now) for p in sorted(found, key=lambda p: p.journey_id)]

    @strawberry.field
    async def frictions(self, info: JourneyInfo) -> list[Friction]:
        """Pain points detected in the customer's journeys, newest first, with evidence."""
        return [
            Friction(
                id=strawberry.ID(f.id),
                kind=f.kind,
                description=f.description,
                stage=f.stage,
                channel=f.channel,
                journey_id=f.journey_id,
                detected_at=f.detected_at,
                evidence=list(f.touchpoint_ids),
                touchpoint_ids=list(f.touchpoint_ids),
            )
            for f in await info.context.loaders.frictions.load(str(self.id))
        ]

    @strawberry.field
    async def journey_export(
        self, info: JourneyInfo, first: int = export.DEFAULT_EXPORT_PAGE, after: str | None = None
    ) -> JSON:
        """The journey part of the customer's data-subject access report (scopes admin and
        pii:read; audited): touchpoints with their properties a page at a time (follow
        ``touchpointsPage.endCursor`` with ``after``), journeys with stage history, frictions."""
        return JSON(await export.journey_export(info, str(self.id), first, after))

    @classmethod
    def resolve_reference(cls, info: JourneyInfo, id: strawberry.ID) -> Customer:
        require_scope(info.context.principal, READ)
        return cls(id=id)


@strawberry.type
class Query:
    journeys: list[definitions.JourneyDefinition] = strawberry.field(resolver=definitions.journeys)
    triggers: list[definitions.TriggerRule] = strawberry.field(resolver=definitions.triggers)
    funnel: analytics.Funnel = strawberry.field(resolver=analytics.funnel)
    paths: analytics.Paths = strawberry.field(resolver=analytics.paths)
    stage_metrics: analytics.StageMetrics = strawberry.field(resolver=analytics.stage_metrics)
    pain_points: list[analytics.PainPoint] = strawberry.field(resolver=analytics.pain_points)
    attribution: list[analytics.ChannelCredit] = strawberry.field(resolver=analytics.attribution)


@strawberry.type
class Mutation:
    create_journey: definitions.JourneyDefinition = strawberry.field(
        resolver=definitions.create_journey
    )
    update_journey: definitions.JourneyDefinition = strawberry.field(
        resolver=definitions.update_journey
    )
    create_trigger: definitions.TriggerRule = strawberry.field(resolver=definitions.create_trigger)


schema = strawberry.federation.Schema(query=Query, mutation=Mutation, types=[Customer])
