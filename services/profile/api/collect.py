"""The collection API: Segment's HTTP tracking API on Starlette.

``POST /v1/{identify,track,page,screen,group,alias}`` take one message,
``POST /v1/batch`` (and ``/v1/import``) many. Authentication is the write key
as Segment SDKs send it: the HTTP Basic user, or ``writeKey`` in the body; or,
for server-side senders, ``Authorization: Bearer <JWT>`` with the scope
``events:write`` (the events' source is then derived from the token's ``sub``).

A 200 means every accepted event was confirmed by the broker; when the broker
is unreachable the answer is 503 with ``Retry-After`` so SDKs retry. Events
that fail validation are answered 400 (single calls) or reported per index
(batches) and are written to the quarantine first, so none is silently lost.
Each event's CloudEvent id is derived from its source and messageId, which
makes an SDK's retries harmless downstream. A batch's accepted events travel
as one ``io.threadline.ingest.batch`` message per partition key (see
:mod:`services.profile.ingest`): the broker's confirmed-publish rate
caps messages, not events.

The routes find their dependencies in ``request.state.collector`` (put there
by the profile service's lifespan) unless a getter is passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.profile.adapters.ports import QuarantinedEvent
from services.profile.api import parked_admin, quarantine_admin
from services.profile.api.http import (
    RequestRejectedError,
    guarded,
    json_object,
    json_response,
    read_body,
)
from services.profile.api.intake import COLLECTED, Collector, CollectorOf
from services.profile.api.segment import BatchRequest, parse
from services.profile.ingest import grouped, ingest_event, quarantine_entry
from shared.auth import EVENTS_WRITE, basic_user, bearer_token
from shared.errors import AuthError, ValidationError
from shared.events import CloudEvent
from shared.normalize import KINDS, Receipt, message_id_of, normalize, source_id
from shared.telemetry import current_traceparent


def collection_routes(
    collector_of: CollectorOf = lambda request: request.state.collector,
) -> list[Route]:
    """The ``/v1`` tracking routes and the quarantine and parked-message admin routes."""

    def single(kind: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, lambda: _single(collector_of(request), request, kind))

        return endpoint

    async def batch(request: Request) -> Response:
        return await guarded(request, lambda: _batch(collector_of(request), request))

    routes = [Route(f"/v1/{kind}", single(kind), methods=["POST"]) for kind in sorted(KINDS)]
    routes.append(Route("/v1/batch", batch, methods=["POST"]))
    routes.append(Route("/v1/import", batch, methods=["POST"]))

    routes.extend(quarantine_admin.routes(collector_of))
    routes.extend(parked_admin.routes(collector_of))
    return routes


async def _single(collector: Collector, request: Request, kind: str) -> Response:
    body = await read_body(request, collector.max_event_bytes, "an event")
    message = json_object(body)
    source = await _authenticated_source(collector, request, message)
    message.pop("writeKey", None)
    received_at = collector.clock()
    try:
        event = normalize(
            message,
            Receipt(
                received_at=received_at, source=source, default_region=collector.default_region
            ),
            kind=kind,
        )
    except ValidationError as exc:
        entry = quarantine_entry(source, message, exc.problems, received_at, kind=kind)
        await collector.quarantine.add([entry])
        COLLECTED.labels("quarantined").inc()
        raise RequestRejectedError(400, "invalid event", errors=exc.problems) from None
    await collector.publisher.publish([ingest_event(event, received_at, current_traceparent())])
    COLLECTED.labels("accepted").inc()
    return json_response({"success": True})


async def _batch(collector: Collector, request: Request) -> Response:
    body = await read_body(request, collector.max_batch_bytes, "a batch")
    raw = json_object(body)
    source = await _authenticated_source(collector, request, raw)
    try:
        envelope = parse(BatchRequest, raw)
    except ValidationError as exc:
        raise RequestRejectedError(400, "invalid batch", errors=exc.problems) from None
    received_at = collector.clock()
    shared = {"sentAt": envelope.sentAt, "context": envelope.context}
    receipt = Receipt(
        received_at=received_at,
        source=source,
        sent_at=envelope.sentAt,
        context=envelope.context,
        default_region=collector.default_region,
    )
    # A body within the per-event limit cannot hold an oversized event: skip re-encoding.
    check_sizes = len(body) > collector.max_event_bytes
    traceparent = current_traceparent()
    accepted: list[CloudEvent] = []
    rejected: list[dict[str, Any]] = []
    quarantined: list[QuarantinedEvent] = []
    for index, message in enumerate(envelope.batch):
        path = f"batch[{index}]"
        try:
            if check_sizes:
                _check_event_size(message, collector.max_event_bytes, path)
            event = normalize(message, receipt, path=path + ".")
        except ValidationError as exc:
            rejected.append(
                {
                    "index": index,
                    "messageId": message_id_of(message) if isinstance(message, dict) else None,
                    "errors": exc.problems,
                }
            )
            quarantined.append(
                quarantine_entry(source, message, exc.problems, received_at, batch=shared)
            )
            continue
        accepted.append(ingest_event(event, received_at, traceparent))
    if quarantined:
        await collector.quarantine.add(quarantined)
        COLLECTED.labels("quarantined").inc(len(quarantined))
    if not accepted:
        errors = {k: v for entry in rejected for k, v in entry["errors"].items()}
        raise RequestRejectedError(
            400, "no event in the batch is valid", errors=errors, accepted=0, rejected=rejected
        )
    await collector.publisher.publish(grouped(accepted, source))
    COLLECTED.labels("accepted").inc(len(accepted))
    return json_response({"success": True, "accepted": len(accepted), "rejected": rejected})


def _check_event_size(message: Any, limit: int, path: str) -> None:
    size = len(orjson.dumps(message))
    if size > limit:
        raise ValidationError(
            {path: f"event is {size} bytes; Segment's limit is {limit // 1024} KB per event"}
        )


async def _authenticated_source(
    collector: Collector, request: Request, body: dict[str, Any]
) -> str:
    """The source id of the sender: of its write key, or of its token's ``sub``.

    A bearer token, when sent, decides alone: a bad one is refused even if the
    body also carries a write key.
    """
    authorization = request.headers.get("authorization")
    token = bearer_token(authorization)
    if token is not None:
        return await _token_source(collector, token)
    key = basic_user(authorization)
    if not key:
        in_body = body.get("writeKey")
        key = in_body if isinstance(in_body, str) else None
    if not key:
        raise RequestRejectedError(
            401,
            "missing write key: send it as the HTTP Basic user or as writeKey in the body "
            f"(or send 'Authorization: Bearer <JWT>' with the scope {EVENTS_WRITE!r})",
        )
    if not collector.write_keys.valid(key):
        raise RequestRejectedError(401, "unknown write key")
    return collector.source_of(key)


async def _token_source(collector: Collector, token: str) -> str:
    if collector.tokens is None:
        raise RequestRejectedError(
            401,
            "bearer tokens cannot be verified here: set THREADLINE_JWT_SECRET or "
            "THREADLINE_JWKS_URL, or send a write key as the HTTP Basic user",
        )
    try:
        principal = await collector.tokens.verify(token)
        principal.require(EVENTS_WRITE)
    except AuthError as exc:
        raise RequestRejectedError(exc.status, str(exc)) from None
    return source_id(f"token:{principal.subject}")
