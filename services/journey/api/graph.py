"""The journey subgraph: extends ``Customer`` with ``timeline``, ``journeys`` and ``frictions``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from services.journey.adapters.ports import JourneyStore, position
from services.journey.api.loaders import JourneyLoaders, TimelineRequest
from services.journey.domain import JourneyError
from services.journey.domain.timeline import decode_cursor, page_size
from services.journey.domain.touchpoints import Touchpoint as TouchpointValue
from shared.auth import Principal
from shared.subgraph import require_scope

READ = "customers:read"


@dataclass(frozen=True, slots=True)
class JourneyContext:
    """Per request: who asks, the store to answer from, and the request's loaders."""

    principal: Principal
    store: JourneyStore
    loaders: JourneyLoaders = field(init=False)

    def __post_init__(self) -> None:
        # Built with the context, so once per request: batches and caches end with it.
        object.__setattr__(self, "loaders", JourneyLoaders(self.store))


JourneyInfo = Info[JourneyContext, None]


@strawberry.type
class Touchpoint:
    id: strawberry.ID
    event_id: str
    type: str
    event: str | None
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
            channel=value.channel,
            timestamp=value.timestamp,
            properties=JSON(dict(value.summary)),
        )


@strawberry.type
class TouchpointEdge:
    cursor: str
    node: Touchpoint


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TouchpointConnection:
    edges: list[TouchpointEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class JourneyProgress:
    journey_id: strawberry.ID
    name: str
    stage: str
    entered_at: datetime
    updated_at: datetime


@strawberry.type
class Friction:
    id: strawberry.ID
    kind: str
    description: str
    detected_at: datetime
    touchpoint_ids: list[str]


def _bad_input(exc: JourneyError) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"})


@strawberry.federation.type(keys=["id"])
class Customer:
    id: strawberry.ID

    @strawberry.field
    async def timeline(
        self,
        info: JourneyInfo,
        first: int | None = 20,
        after: str | None = None,
        channel: str | None = None,
    ) -> TouchpointConnection:
        """Touchpoints newest first (event time), Relay-style pages."""
        try:
            size = page_size(first)
            start = decode_cursor(after) if after else None
        except JourneyError as exc:
            raise _bad_input(exc) from exc
        timeline = await info.context.loaders.timeline.load(
            TimelineRequest(str(self.id), first=size, after=start, channel=channel)
        )
        page = timeline.page
        edges = [
            TouchpointEdge(cursor=position(t).cursor(), node=Touchpoint.of(t))
            for t in page.touchpoints
        ]
        return TouchpointConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=timeline.total,
        )

    @strawberry.field
    async def journeys(self, info: JourneyInfo) -> list[JourneyProgress]:
        return [
            JourneyProgress(
                journey_id=strawberry.ID(p.journey_id),
                name=p.name,
                stage=p.stage,
                entered_at=p.entered_at,
                updated_at=p.updated_at,
            )
            for p in await info.context.loaders.journeys.load(str(self.id))
        ]

    @strawberry.field
    async def frictions(self, info: JourneyInfo) -> list[Friction]:
        return [
            Friction(
                id=strawberry.ID(f.id),
                kind=f.kind,
                description=f.description,
                detected_at=f.detected_at,
                touchpoint_ids=list(f.touchpoint_ids),
            )
            for f in await info.context.loaders.frictions.load(str(self.id))
        ]

    @classmethod
    def resolve_reference(cls, info: JourneyInfo, id: strawberry.ID) -> Customer:
        require_scope(info.context.principal, READ)
        return cls(id=id)


schema = strawberry.federation.Schema(types=[Customer])
