"""In-memory twins of the journey service's ports, for unit tests of handlers and APIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.journey.adapters.ports import (
    Friction,
    JourneyProgress,
    Timeline,
    TimelinePage,
    position,
)
from services.journey.domain.timeline import Position
from services.journey.domain.touchpoints import Touchpoint


@dataclass
class InMemoryJourneyStore:
    """:class:`JourneyStore` in dicts."""

    touchpoints: dict[str, Touchpoint] = field(default_factory=dict)
    progress: dict[str, list[JourneyProgress]] = field(default_factory=dict)
    friction_docs: dict[str, list[Friction]] = field(default_factory=dict)

    async def save_touchpoints(self, touchpoints: Sequence[Touchpoint]) -> None:
        for touchpoint in touchpoints:
            self.touchpoints.setdefault(touchpoint.id, touchpoint)

    async def timeline(
        self, customer_id: str, *, first: int, after: Position | None, channel: str | None
    ) -> TimelinePage:
        mine = sorted(
            (
                t
                for t in self.touchpoints.values()
                if t.customer_id == customer_id and (channel is None or t.channel == channel)
            ),
            key=position,
            reverse=True,
        )
        if after is not None:
            mine = [t for t in mine if position(t) < after]
        return TimelinePage(tuple(mine[:first]), has_next=len(mine) > first)

    async def count(self, customer_id: str, channel: str | None) -> int:
        return sum(
            1
            for t in self.touchpoints.values()
            if t.customer_id == customer_id and (channel is None or t.channel == channel)
        )

    async def timelines(
        self,
        customer_ids: Sequence[str],
        *,
        first: int,
        after: Position | None,
        channel: str | None,
    ) -> dict[str, Timeline]:
        return {
            cid: Timeline(
                await self.timeline(cid, first=first, after=after, channel=channel),
                await self.count(cid, channel),
            )
            for cid in customer_ids
        }

    async def journeys(self, customer_id: str) -> list[JourneyProgress]:
        return list(self.progress.get(customer_id, []))

    async def journeys_of(self, customer_ids: Sequence[str]) -> dict[str, list[JourneyProgress]]:
        return {cid: await self.journeys(cid) for cid in customer_ids}

    async def frictions(self, customer_id: str) -> list[Friction]:
        return sorted(
            self.friction_docs.get(customer_id, []), key=lambda f: f.detected_at, reverse=True
        )

    async def frictions_of(self, customer_ids: Sequence[str]) -> dict[str, list[Friction]]:
        return {cid: await self.frictions(cid) for cid in customer_ids}
