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
