"""The journey store port: touchpoints, journey progress and frictions.

:class:`InMemoryJourneyStore` (``adapters/in_memory.py``) is its twin for unit tests.
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


@dataclass(frozen=True, slots=True)
class Timeline:
    """A page of one customer's timeline and how many touchpoints match in all."""

    page: TimelinePage
    total: int


EMPTY_TIMELINE = Timeline(TimelinePage((), has_next=False), total=0)


class JourneyStore(Protocol):
    async def save_touchpoints(self, touchpoints: Sequence[Touchpoint]) -> None:
        """Upsert by id: saving the same touchpoint twice leaves one."""

    async def timeline(
        self, customer_id: str, *, first: int, after: Position | None, channel: str | None
    ) -> TimelinePage:
        """Up to ``first`` touchpoints strictly after ``after``, newest first."""

    async def count(self, customer_id: str, channel: str | None) -> int: ...

    async def timelines(
        self,
        customer_ids: Sequence[str],
        *,
        first: int,
        after: Position | None,
        channel: str | None,
    ) -> dict[str, Timeline]:
        """For each of ``customer_ids``, in one read: the page :meth:`timeline` would
        give and the :meth:`count` of its timeline (``channel`` applies to both).

        Every id requested is a key (a customer without touchpoints has an empty one).
        """

    async def journeys(self, customer_id: str) -> list[JourneyProgress]: ...

    async def journeys_of(self, customer_ids: Sequence[str]) -> dict[str, list[JourneyProgress]]:
        """The journey progress of each of ``customer_ids`` in one read; every id is a key."""

    async def frictions(self, customer_id: str) -> list[Friction]: ...

    async def frictions_of(self, customer_ids: Sequence[str]) -> dict[str, list[Friction]]:
        """The frictions of each of ``customer_ids``, newest first, in one read; every id
        is a key."""


def position(touchpoint: Touchpoint) -> Position:
    return Position(touchpoint.timestamp, touchpoint.id)
