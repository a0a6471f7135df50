"""Quarantine administration: list rejected events and replay them after a fix.

``GET /v1/admin/quarantine?limit=&status=`` and ``POST /v1/admin/quarantine/replay
{"ids": [...]}``; both need a bearer token with scope ``admin``. Replaying runs
normalization again with the event's original receive time and batch fields
and publishes the events that pass now; the others stay with their new errors.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.profile.adapters.ports import QuarantinedEvent, Status
from services.profile.api.http import (
    RequestRejectedError,
    guarded,
    json_object,
    json_response,
    query_limit,
    read_body,
)
from services.profile.api.intake import Collector, CollectorOf, require_admin
from services.profile.api.segment import ReplayRequest, parse
from services.profile.ingest import ingest_event
from shared.errors import ValidationError
from shared.events import CloudEvent
from shared.normalize import NormalizedEvent, Receipt, normalize
from shared.normalize.canonical import rfc3339
from shared.telemetry import current_traceparent

_STATUSES: dict[str, Status | None] = {"pending": "pending", "replayed": "replayed", "all": None}


def routes(collector_of: CollectorOf) -> list[Route]:
    async def list_quarantine(request: Request) -> Response:
        return await guarded(request, lambda: _list(collector_of(request), request))

    async def replay_quarantine(request: Request) -> Response:
        return await guarded(request, lambda: _replay(collector_of(request), request))

    return [
        Route("/v1/admin/quarantine", list_quarantine, methods=["GET"]),
        Route("/v1/admin/quarantine/replay", replay_quarantine, methods=["POST"]),
    ]


async def _list(collector: Collector, request: Request) -> Response:
    await require_admin(collector, request)
    limit = query_limit(request)
    wanted = request.query_params.get("status", "pending")
    if wanted not in _STATUSES:
        raise RequestRejectedError(
            400, "status must be pending, replayed or all", errors={"status": "unknown status"}
        )
    entries = await collector.quarantine.browse(limit, _STATUSES[wanted])
    return json_response({"items": [_describe_entry(entry) for entry in entries]})


def _describe_entry(entry: QuarantinedEvent) -> dict[str, Any]:
    return {
        "id": entry.id,
        "source": entry.source,
        "kind": entry.kind,
        "payload": orjson.loads(entry.payload),
        "batch": orjson.loads(entry.batch) if entry.batch else None,
        "errors": entry.errors,
        "receivedAt": rfc3339(entry.received_at),
        "status": entry.status,
        "attempts": entry.attempts,
        "replayedAt": rfc3339(entry.replayed_at) if entry.replayed_at else None,
    }


async def _replay(collector: Collector, request: Request) -> Response:
    """Normalize quarantined events again; publish those that pass, keep the others."""
    await require_admin(collector, request)
    body = await read_body(request, collector.max_batch_bytes, "a replay request")
    try:
        wanted = parse(ReplayRequest, json_object(body)).ids
    except ValidationError as exc:
        raise RequestRejectedError(400, "invalid replay request", errors=exc.problems) from None
    entries = await collector.quarantine.get(wanted)
    found = {entry.id for entry in entries}
    traceparent = current_traceparent()
    passed: list[str] = []
    events: list[CloudEvent] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            event = _renormalize(entry, collector.max_event_bytes, collector.default_region)
        except ValidationError as exc:
            await collector.quarantine.record_failure(entry.id, exc.problems)
            failed.append({"id": entry.id, "errors": exc.problems})
            continue
        passed.append(entry.id)
        events.append(ingest_event(event, entry.received_at, traceparent))
    await collector.publisher.publish(events)
    await collector.quarantine.mark_replayed(passed, collector.clock())
    missing = [entry_id for entry_id in wanted if entry_id not in found]
    return json_response({"replayed": passed, "failed": failed, "missing": missing})


def _renormalize(
    entry: QuarantinedEvent, max_event_bytes: int, default_region: str | None
) -> NormalizedEvent:
    if len(entry.payload.encode()) > max_event_bytes:
        raise ValidationError(
            {"payload": f"event is larger than {max_event_bytes // 1024} KB; it cannot be accepted"}
        )
    shared = orjson.loads(entry.batch) if entry.batch else {}
    receipt = Receipt(
        received_at=entry.received_at,
        source=entry.source,
        sent_at=shared.get("sentAt"),
        context=shared.get("context"),
        default_region=default_region,
    )
    return normalize(orjson.loads(entry.payload), receipt, kind=entry.kind)
