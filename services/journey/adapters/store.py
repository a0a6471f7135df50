"""The journey store port and its in-memory twin.

Journey stages and frictions are computed by a later issue; their collections
exist already and are read as stored (empty until something writes them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.journey.domain.timeline import Position
from services.journey.domain.touchpoints import Touchpoint


@dataclass(frozen=True, slots=True)
class JourneyProgress:
    journey_id: str
    name: str
    stage: str
    entered_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Friction:
    id: str
    kind: str
    description: str
    detected_at: datetime
    touchpoint_ids: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    touchpoints: tuple[Touchpoint, ...]
    has_next: bool


class JourneyStore(Protocol):
    async def save_touchpoints(self, touchpoints: Sequence[Touchpoint]) -> None:
        """Upsert by id: saving the same touchpoint twice leaves one."""

    async def timeline(
        self, customer_id: str, *, first: int, after: Position | None, channel: str | None
    ) -> TimelinePage:
        """Up to ``first`` touchpoints strictly after ``after``, newest first."""

    async def count(self, customer_id: str, channel: str | None) -> int: ...

    async def journeys(self, customer_id: str) -> list[JourneyProgress]: ...

    async def frictions(self, customer_id: str) -> list[Friction]: ...


def position(touchpoint: Touchpoint) -> Position:
    return Position(touchpoint.timestamp, touchpoint.id)


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

    async def journeys(self, customer_id: str) -> list[JourneyProgress]:
        return list(self.progress.get(customer_id, []))

    async def frictions(self, customer_id: str) -> list[Friction]:
        return list(self.friction_docs.get(customer_id, []))
