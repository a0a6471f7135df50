"""How a CloudEvent travels as an AMQP message, and back.

Structured mode: the body is ``CloudEvent.to_json()``; the ``ce-`` headers carry
the routing-relevant attributes (``ce-partitionkey`` feeds the shard exchange)
and ``traceparent`` the producer span. Retries and parking add our own
``x-threadline-*`` headers so the attempt count and last error travel with the
message instead of living in some side table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode

from shared.errors import ValidationError
from shared.events import CONTENT_TYPE, CloudEvent, parse_time

ATTEMPTS_HEADER = "x-threadline-attempts"
ERROR_HEADER = "x-threadline-error"
PARKED_AT_HEADER = "x-threadline-parked-at"
UNDECODABLE_TYPE = "io.threadline.bus.undecodable"
_MAX_ERROR = 2000


def event_message(event: CloudEvent, headers: Mapping[str, Any]) -> aio_pika.Message:
    """A persistent AMQP message carrying ``event`` in structured mode."""
    return aio_pika.Message(
        event.to_json(),
        headers=dict(headers),
        content_type=CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=event.id,
        timestamp=datetime.now(UTC),
        type=event.type,
    )


def copy_message(
    message: AbstractIncomingMessage, *, set_headers: Mapping[str, Any], drop: tuple[str, ...] = ()
) -> aio_pika.Message:
    """A persistent copy of a delivered message (same body) with headers changed."""
    headers = {k: v for k, v in (message.headers or {}).items() if k not in drop}
    # x-death accumulates on every retry round trip; our attempt header replaces it.
    headers.pop("x-death", None)
    headers.update(set_headers)
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type or CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        timestamp=message.timestamp or datetime.now(UTC),
        type=message.type,
    )


def carried_message(
    envelope: AbstractIncomingMessage, event: CloudEvent, *, set_headers: Mapping[str, Any]
) -> aio_pika.Message:
    """A message of its own for ``event``, one of the events ``envelope`` carried.

    It keeps the envelope's trace headers, so a retried or parked event stays
    in the trace of the request that collected it.
    """
    headers: dict[str, Any] = event.headers()
    for name in ("traceparent", "tracestate"):
        value = (envelope.headers or {}).get(name)
        if value is not None:
            headers[name] = value
    headers.update(set_headers)
    return event_message(event, headers)


def decode(message: AbstractIncomingMessage) -> CloudEvent:
    """The CloudEvent in a delivered message; ``ValidationError`` if it is not one."""
    return CloudEvent.from_json(message.body)


def attempts_of(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(ATTEMPTS_HEADER, 0)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def error_of(message: AbstractIncomingMessage) -> str:
    value = (message.headers or {}).get(ERROR_HEADER, "")
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def parked_at_of(message: AbstractIncomingMessage) -> datetime:
    value = (message.headers or {}).get(PARKED_AT_HEADER)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    stamp = message.timestamp
    if isinstance(stamp, datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return datetime.now(UTC)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]


def placeholder_event(
    message: AbstractIncomingMessage, reason: ValidationError | str
) -> CloudEvent:
    """Stands in for a body that is not a CloudEvent, so parked() can still list it."""
    body = message.body[:4096].decode("utf-8", errors="replace")
    return CloudEvent(
        type=UNDECODABLE_TYPE,
        source="threadline/bus",
        id=message.message_id or f"undecodable:{message.delivery_tag}",
        data={"body": body, "reason": str(reason)},
    )
