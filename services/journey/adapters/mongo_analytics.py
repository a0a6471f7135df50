"""The reads behind the journey dashboards: touchpoints and frictions of a period.

Funnels read only the touchpoints of their step events (index ``by_event_time``),
paths every touchpoint of the period (``by_time``); both without properties, so
a read moves the few fields the analysis needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.journey.adapters.mongo import (
    FRICTIONS,
    PROGRESS,
    TOUCHPOINTS,
    friction_from_document,
    progress_from_document,
    touchpoint_from_document,
)
from services.journey.adapters.ports import Friction, JourneyProgress
from services.journey.domain.touchpoints import Touchpoint
from shared.mongo import WHOLE_BATCH, AsyncDatabase, Document, storage_errors

_LEAN = {"properties": 0, "summary": 0}


class MongoAnalyticsStore:
    """:class:`~services.journey.adapters.ports.AnalyticsStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._touchpoints = database[TOUCHPOINTS]
        self._frictions = database[FRICTIONS]
        self._progress = database[PROGRESS]

    async def touchpoints_between(
        self,
        start: datetime,
        end: datetime,
        *,
        events: Sequence[str] | None = None,
        properties: bool = False,
    ) -> list[Touchpoint]:
        query: dict[str, Any] = {"timestamp": {"$gte": start, "$lt": end}}
        if events is not None:
            query["event"] = {"$in": list(events)}
        async with storage_errors("reading touchpoints of a period"):
            cursor = self._touchpoints.find(
                query, None if properties else _LEAN, batch_size=WHOLE_BATCH
            )
            return [touchpoint_from_document(doc) async for doc in cursor]

    async def frictions_between(self, start: datetime, end: datetime) -> list[Friction]:
        query = {"detectedAt": {"$gte": start, "$lt": end}}
        async with storage_errors("reading frictions of a period"):
            cursor = self._frictions.find(query, batch_size=WHOLE_BATCH)
            return [friction_from_document(doc) async for doc in cursor]

    async def all_progress(self) -> list[JourneyProgress]:
        async with storage_errors("reading journey progress"):
            cursor = self._progress.find({}, batch_size=WHOLE_BATCH)
            return [progress_from_document(doc) async for doc in cursor]
