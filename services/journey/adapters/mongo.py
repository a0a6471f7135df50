"""The journey store on MongoDB: ``touchpoints``, ``journey_progress`` and ``frictions``.

The ``*_of`` reads and :meth:`MongoJourneyStore.timelines` serve many customers in one
command each (the subgraph's DataLoaders call them once per request). The collections
of the other journey ports (``mongo_state``, ``mongo_identity``, ``mongo_catalog``) are
named here too, with every index the service needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pymongo import DESCENDING, InsertOne
from pymongo.errors import BulkWriteError, PyMongoError

from services.journey.adapters.ports import (
    EMPTY_TIMELINE,
    Friction,
    JourneyProgress,
    ThreadSummary,
    Timeline,
    TimelineFilter,
    TimelinePage,
)
from services.journey.domain.handoffs import Handoff
from services.journey.domain.stages import Visit
from services.journey.domain.timeline import Position
from services.journey.domain.touchpoints import Touchpoint
from shared.errors import StorageError
from shared.mongo import (
    WHOLE_BATCH,
    AsyncDatabase,
    Document,
    Index,
    ascending,
    by_customer,
    only_duplicates,
    storage_errors,
)

TOUCHPOINTS = "touchpoints"
PROGRESS = "journey_progress"
FRICTIONS = "frictions"
FIRED = "triggers_fired"
CUSTOMERS = "journey_customers"
ALIASES = "customer_aliases"
ERASED = "erased_customers"
DEFINITIONS = "journey_definitions"
TRIGGERS = "trigger_rules"
STAGE_TIMES = "stage_times"
SEGMENTS = "segment_members"

INDEXES = (
    Index(
        TOUCHPOINTS,
        (("customerId", 1), ("timestamp", DESCENDING), ("_id", DESCENDING)),
        name="timeline",
    ),
    # Funnels read step events of a period; paths read a period.
    Index(TOUCHPOINTS, ascending("event", "timestamp"), name="by_event_time"),
    Index(TOUCHPOINTS, ascending("timestamp"), name="by_time"),
    Index(TOUCHPOINTS, ascending("eventId"), name="by_ingest_event"),
    Index(PROGRESS, ascending("customerId"), name="progress_by_customer"),
    Index(FRICTIONS, ascending("customerId", "detectedAt"), name="frictions_by_customer"),
    Index(FRICTIONS, ascending("detectedAt"), name="frictions_by_time"),
    Index(FIRED, ascending("customerId"), name="fired_by_customer"),
    Index(CUSTOMERS, ascending("dueAt"), name="due", partial={"dueAt": {"$exists": True}}),
    Index(ALIASES, ascending("survivor"), name="aliases_by_survivor"),
    Index(SEGMENTS, ascending("segmentId", "member"), name="members_by_segment"),
    Index(SEGMENTS, ascending("customerId"), name="segments_by_customer"),
)


class MongoJourneyStore:
    """:class:`~services.journey.adapters.store.JourneyStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._touchpoints = database[TOUCHPOINTS]
        self._progress = database[PROGRESS]
        self._frictions = database[FRICTIONS]

    async def save_touchpoints(self, touchpoints: Sequence[Touchpoint]) -> None:
        if not touchpoints:
            return
        # Inserts, not upserts (a third of the cost): a touchpoint stored before is
        # identical to the one at hand, since both derive from the same event.
        operations = [InsertOne({"_id": t.id, **touchpoint_document(t)}) for t in touchpoints]
        try:
            await self._touchpoints.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            if not only_duplicates(exc):
                raise StorageError(f"saving touchpoints failed: {exc.details}") from exc
        except PyMongoError as exc:
            raise StorageError(f"saving touchpoints failed: {exc}") from exc

    async def timeline(
        self, customer_id: str, *, first: int, after: Position | None, channel: str | None
    ) -> TimelinePage:
        query = _filter(customer_id, channel)
        if after is not None:
            query["$or"] = [
                {"timestamp": {"$lt": after.timestamp}},
                {"timestamp": after.timestamp, "_id": {"$lt": after.id}},
            ]
        async with storage_errors("reading a timeline"):
            cursor = (
                self._touchpoints.find(query)
                .sort([("timestamp", DESCENDING), ("_id", DESCENDING)])
                .limit(first + 1)
            )
            found = [touchpoint_from_document(doc) async for doc in cursor]
        return TimelinePage(tuple(found[:first]), has_next=len(found) > first)

    async def count(self, customer_id: str, channel: str | None) -> int:
        async with storage_errors("counting touchpoints"):
            return await self._touchpoints.count_documents(_filter(customer_id, channel))

    async def filtered(
        self, customer_id: str, *, first: int, after: Position | None, where: TimelineFilter
    ) -> Timeline:
        query = _where(customer_id, where)
        async with storage_errors("counting touchpoints"):
            total = await self._touchpoints.count_documents(query)
        if after is not None:
            query = {"$and": [query, _beyond(after, older=True)]}
        async with storage_errors("reading a timeline"):
            cursor = (
                self._touchpoints.find(query)
                .sort([("timestamp", DESCENDING), ("_id", DESCENDING)])
                .limit(first + 1)
            )
            found = [touchpoint_from_document(doc) async for doc in cursor]
        return Timeline(TimelinePage(tuple(found[:first]), has_next=len(found) > first), total)

    async def newer(
        self, customer_id: str, *, last: int, before: Position | None, where: TimelineFilter
    ) -> TimelinePage:
        query = _where(customer_id, where)
        if before is not None:
            query = {"$and": [query, _beyond(before, older=False)]}
        async with storage_errors("reading a timeline"):
            cursor = (
                self._touchpoints.find(query).sort([("timestamp", 1), ("_id", 1)]).limit(last + 1)
            )
            found = [touchpoint_from_document(doc) async for doc in cursor]
        page = found[:last]
        return TimelinePage(tuple(reversed(page)), has_next=len(found) > last)

    async def touchpoints_of(self, customer_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
        return await by_customer(
            self._touchpoints,
            customer_ids,
            touchpoint_from_document,
            "reading touchpoints",
            sort=[("timestamp", 1), ("_id", 1)],
        )

    async def timelines(
        self,
        customer_ids: Sequence[str],
        *,
        first: int,
        after: Position | None,
        channel: str | None,
    ) -> dict[str, Timeline]:
        found = dict.fromkeys(customer_ids, EMPTY_TIMELINE)
        if not found:
            return found
        pipeline = timelines_pipeline(list(found), first=first, after=after, channel=channel)
        async with storage_errors("reading timelines"):
            cursor = await self._touchpoints.aggregate(pipeline, batchSize=WHOLE_BATCH)
            async for doc in cursor:
                top = [touchpoint_from_document(t) for t in doc["top"] if t is not None]
                found[str(doc["_id"])] = Timeline(
                    TimelinePage(tuple(top[:first]), has_next=len(top) > first),
                    total=int(doc["total"]),
                )
        return found

    async def journeys(self, customer_id: str) -> list[JourneyProgress]:
        async with storage_errors("reading journey progress"):
            cursor = self._progress.find({"customerId": customer_id})
            return [progress_from_document(doc) async for doc in cursor]

    async def journeys_of(self, customer_ids: Sequence[str]) -> dict[str, list[JourneyProgress]]:
        return await by_customer(
            self._progress, customer_ids, progress_from_document, "reading journey progress"
        )

    async def frictions(self, customer_id: str) -> list[Friction]:
        async with storage_errors("reading frictions"):
            cursor = self._frictions.find({"customerId": customer_id}).sort("detectedAt", -1)
            return [friction_from_document(doc) async for doc in cursor]

    async def frictions_of(self, customer_ids: Sequence[str]) -> dict[str, list[Friction]]:
        return await by_customer(
            self._frictions,
            customer_ids,
            friction_from_document,
            "reading frictions",
            sort=[("detectedAt", -1)],
        )


def _beyond(where: Position, *, older: bool) -> dict[str, Any]:
    op = "$lt" if older else "$gt"
    return {
        "$or": [
            {"timestamp": {op: where.timestamp}},
            {"timestamp": where.timestamp, "_id": {op: where.id}},
        ]
    }


def _where(customer_id: str, where: TimelineFilter) -> dict[str, Any]:
    query = _filter(customer_id, where.channel)
    if where.event is not None:
        query["$or"] = [{"event": {"$in": list(where.names)}}, {"eventName": where.event}]
    moments: dict[str, Any] = {}
    if where.start is not None:
        moments["$gte"] = where.start
    if where.end is not None:
        moments["$lt"] = where.end
    if moments:
        query["timestamp"] = moments
    return query


def _filter(customer_id: str, channel: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"customerId": customer_id}
    if channel is not None:
        query["channel"] = channel
    return query


def timelines_pipeline(
    customer_ids: list[str], *, first: int, after: Position | None, channel: str | None
) -> list[Document]:
    """One aggregation for a page of each customer's timeline and its total.

    Grouped by customer: ``total`` counts every touchpoint (of ``channel``), ``top`` keeps
    the ``first + 1`` newest strictly after ``after`` (one more than the page, to tell
    whether a next page exists). ``$topN`` cannot filter, so touchpoints at or before the
    cursor rank last and come out as ``null`` when a customer has fewer than ``first + 1``
    after it. (``$topN`` needs MongoDB 5.2 or later; SecantusDB has it.)

    Unlike one customer's :meth:`MongoJourneyStore.timeline`, which stops after the page,
    the group reads every touchpoint of the customers once; the count read them anyway.
    """
    match: dict[str, Any] = {"customerId": {"$in": customer_ids}}
    if channel is not None:
        match["channel"] = channel
    newest_first = {"timestamp": DESCENDING, "_id": DESCENDING}
    if after is None:
        return [
            {"$match": match},
            {
                "$group": {
                    "_id": "$customerId",
                    "total": {"$sum": 1},
                    "top": _top(first, newest_first, "$$ROOT"),
                }
            },
        ]
    beyond = {
        "$or": [
            {"$lt": ["$timestamp", after.timestamp]},
            {"$and": [{"$eq": ["$timestamp", after.timestamp]}, {"$lt": ["$_id", after.id]}]},
        ]
    }
    output = {"$cond": ["$_beyond", "$$ROOT", None]}
    return [
        {"$match": match},
        {"$addFields": {"_beyond": beyond}},
        {
            "$group": {
                "_id": "$customerId",
                "total": {"$sum": 1},
                "top": _top(first, {"_beyond": DESCENDING, **newest_first}, output),
            }
        },
    ]


def _top(first: int, sort_by: Mapping[str, int], output: Any) -> Document:
    return {"$topN": {"n": first + 1, "sortBy": dict(sort_by), "output": output}}


def visit_document(visit: Visit) -> Document:
    return {
        "cycle": visit.cycle,
        "stage": visit.stage,
        "enteredAt": visit.entered_at,
        "enteredBy": visit.entered_by,
        "channel": visit.channel,
        "exitedAt": visit.left_at,
    }


def visit_from_document(journey_id: str, doc: Mapping[str, Any]) -> Visit:
    return Visit(
        journey_id=journey_id,
        cycle=int(doc["cycle"]),
        stage=str(doc["stage"]),
        entered_at=doc["enteredAt"],
        entered_by=str(doc["enteredBy"]),
        channel=str(doc["channel"]),
        left_at=doc.get("exitedAt"),
    )


def handoff_document(handoff: Handoff) -> Document:
    return {
        "cycle": handoff.cycle,
        "fromChannel": handoff.from_channel,
        "toChannel": handoff.to_channel,
        "fromId": handoff.from_id,
        "toId": handoff.to_id,
        "at": handoff.at,
        "gapSeconds": handoff.gap.total_seconds(),
    }


def handoff_from_document(journey_id: str, doc: Mapping[str, Any]) -> Handoff:
    return Handoff(
        journey_id=journey_id,
        cycle=int(doc["cycle"]),
        from_channel=str(doc["fromChannel"]),
        to_channel=str(doc["toChannel"]),
        from_id=str(doc["fromId"]),
        to_id=str(doc["toId"]),
        at=doc["at"],
        gap=timedelta(seconds=float(doc["gapSeconds"])),
    )


def progress_from_document(doc: Mapping[str, Any]) -> JourneyProgress:
    journey_id = str(doc["journeyId"])
    return JourneyProgress(
        journey_id=journey_id,
        name=str(doc.get("name", "")),
        stage=str(doc["stage"]),
        entered_at=doc["enteredAt"],
        updated_at=doc.get("updatedAt") or doc["enteredAt"],
        version=int(doc.get("journeyVersion") or 1),
        history=tuple(visit_from_document(journey_id, v) for v in doc.get("history") or ()),
        handoffs=tuple(handoff_from_document(journey_id, h) for h in doc.get("handoffs") or ()),
        threads=tuple(
            ThreadSummary(int(t["cycle"]), tuple(t["channels"]), int(t["breaks"]))
            for t in doc.get("threads") or ()
        ),
    )


def friction_from_document(doc: Mapping[str, Any]) -> Friction:
    return Friction(
        id=str(doc["_id"]),
        kind=str(doc["kind"]),
        description=str(doc.get("description", "")),
        detected_at=doc["detectedAt"],
        touchpoint_ids=tuple(doc.get("touchpointIds") or ()),
        details=dict(doc.get("details") or {}),
        stage=doc.get("stage"),
        channel=doc.get("channel"),
        journey_id=doc.get("journeyId"),
        customer_id=doc.get("customerId"),
    )


def touchpoint_document(touchpoint: Touchpoint) -> Document:
    return {
        "customerId": touchpoint.customer_id,
        "eventId": touchpoint.event_id,
        "type": touchpoint.kind,
        "event": touchpoint.name,
        "eventName": touchpoint.event_name,
        "channel": touchpoint.channel,
        "timestamp": touchpoint.timestamp,
        "properties": dict(touchpoint.properties),
    }


def touchpoint_from_document(doc: Mapping[str, Any]) -> Touchpoint:
    # Touchpoints stored before the original name and properties were kept carry a
    # ``summary`` of a few properties instead.
    properties = doc.get("properties")
    return Touchpoint(
        id=str(doc["_id"]),
        customer_id=str(doc["customerId"]),
        event_id=str(doc["eventId"]),
        kind=str(doc["type"]),
        name=doc.get("event"),
        channel=str(doc["channel"]),
        timestamp=doc["timestamp"],
        properties=dict(properties if properties is not None else doc.get("summary") or {}),
        event_name=doc.get("eventName"),
    )
