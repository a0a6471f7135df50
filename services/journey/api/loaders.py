"""Per-request DataLoaders of the journey subgraph.

``_entities`` with many customers resolves each one's ``timeline``, ``journeys`` and
``frictions`` through these loaders, so a request reads the timelines of all its
customers in one store call per page shape (``first``, ``after``, ``channel``), and
their journeys and frictions in one call each, however many customers it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from services.journey.adapters.ports import Friction, JourneyProgress, JourneyStore, Timeline
from services.journey.domain.timeline import Position


@dataclass(frozen=True, slots=True)
class TimelineRequest:
    """One customer's timeline page as a field asks for it."""

    customer_id: str
    first: int
    after: Position | None
    channel: str | None


class JourneyLoaders:
    """``timeline`` (by :class:`TimelineRequest`), ``journeys`` and ``frictions`` (by
    customer id)."""

    def __init__(self, store: JourneyStore) -> None:
        self._store = store
        self.timeline = DataLoader[TimelineRequest, Timeline](load_fn=self._timelines)
        self.journeys = DataLoader[str, list[JourneyProgress]](load_fn=self._journeys)
        self.frictions = DataLoader[str, list[Friction]](load_fn=self._frictions)

    async def _timelines(self, requests: list[TimelineRequest]) -> list[Timeline]:
        shapes: dict[tuple[int, Position | None, str | None], list[str]] = {}
        for request in requests:
            shape = (request.first, request.after, request.channel)
            shapes.setdefault(shape, []).append(request.customer_id)
        found: dict[TimelineRequest, Timeline] = {}
        for (first, after, channel), customer_ids in shapes.items():
            timelines = await self._store.timelines(
                customer_ids, first=first, after=after, channel=channel
            )
            for customer_id, timeline in timelines.items():
                found[TimelineRequest(customer_id, first, after, channel)] = timeline
        return [found[request] for request in requests]

    async def _journeys(self, customer_ids: list[str]) -> list[list[JourneyProgress]]:
        found = await self._store.journeys_of(customer_ids)
        return [found.get(customer_id, []) for customer_id in customer_ids]

    async def _frictions(self, customer_ids: list[str]) -> list[list[Friction]]:
        found = await self._store.frictions_of(customer_ids)
        return [found.get(customer_id, []) for customer_id in customer_ids]
