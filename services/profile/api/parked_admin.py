"""Parked-message administration: list what a consumer group parked and replay it.

``GET /v1/admin/parked?consumer=profile.ingest&limit=`` lists the parked events
of one consumer group, oldest first, with the error that parked them and how
often they were tried; ``POST /v1/admin/parked/replay`` with
``{"consumer": "...", "ids": [...]}`` (or ``"all": true``) sends them back
through the group's shards once the cause is fixed. Both need a bearer token
with scope ``admin``. ``threadline parked list|replay`` does the same from a
shell. Parked messages live in RabbitMQ (``<exchange>.<consumer>.parked``), so
any consumer group on the exchange can be administered from here.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.profile.api.http import (
    RequestRejectedError,
    guarded,
    json_object,
    json_response,
    query_limit,
    read_body,
)
from services.profile.api.intake import Collector, CollectorOf, require_admin
from services.profile.api.segment import ParkedReplayRequest, parse
from shared.bus.ports import Consumers
from shared.errors import ValidationError

_CONSUMER = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_NAME_HINT = "name a consumer group, e.g. profile.ingest, journey.events or scoring.events"


def routes(collector_of: CollectorOf) -> list[Route]:
    async def list_parked(request: Request) -> Response:
        return await guarded(request, lambda: _list(collector_of(request), request))

    async def replay_parked(request: Request) -> Response:
        return await guarded(request, lambda: _replay(collector_of(request), request))

    return [
        Route("/v1/admin/parked", list_parked, methods=["GET"]),
        Route("/v1/admin/parked/replay", replay_parked, methods=["POST"]),
    ]


async def _list(collector: Collector, request: Request) -> Response:
    await require_admin(collector, request)
    parking = _parking(collector)
    consumer = request.query_params.get("consumer", "")
    if not _CONSUMER.match(consumer):
        raise RequestRejectedError(
            400, f"consumer is missing or malformed: {_NAME_HINT}", errors={"consumer": _NAME_HINT}
        )
    limit = query_limit(request)
    try:
        found = await parking.parked(consumer, limit)
    except ValidationError as exc:
        raise RequestRejectedError(404, str(exc), errors=exc.problems) from None
    return json_response({"consumer": consumer, "items": [parked.describe() for parked in found]})


async def _replay(collector: Collector, request: Request) -> Response:
    await require_admin(collector, request)
    parking = _parking(collector)
    body = await read_body(request, collector.max_batch_bytes, "a replay request")
    try:
        wanted = parse(ParkedReplayRequest, json_object(body))
    except ValidationError as exc:
        raise RequestRejectedError(400, "invalid replay request", errors=exc.problems) from None
    if (wanted.ids is None) == (not wanted.all):
        raise RequestRejectedError(
            400,
            'name the events to replay with "ids", or replay every one with "all": true',
            errors={"ids": "give either ids or all: true"},
        )
    try:
        replayed = await parking.replay(wanted.consumer, wanted.ids)
    except ValidationError as exc:
        raise RequestRejectedError(404, str(exc), errors=exc.problems) from None
    return json_response({"consumer": wanted.consumer, "replayed": replayed})


def _parking(collector: Collector) -> Consumers:
    if collector.parking is None:
        raise RequestRejectedError(
            503, "this process has no connection to the event bus's parking queues"
        )
    return collector.parking
