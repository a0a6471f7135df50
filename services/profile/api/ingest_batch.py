"""The ``io.threadline.ingest.batch`` envelope: one bus message per partition key of a request.

RabbitMQ confirms a few thousand persistent messages per second on a small
machine, far below what ``/v1/batch`` must accept, while SDKs batch per device
(one anonymousId per request). So the collector groups a request's accepted
events by partition key, keeping their order, and publishes one CloudEvent per
group whose ``data.events`` are the inner ingest CloudEvents exactly as they
would travel alone — each with its own derived id, type and partition key. The
profile consumer expands them again (:func:`expand`) before resolving, so
per-event idempotency holds whatever the grouping was.

A group of one event travels as that event itself: wrapping it would only add
bytes, and its own id lets the consumer's inbox recognise the same message sent
again through ``/v1/track`` or in another batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shared.errors import ValidationError
from shared.events import CloudEvent, derived_id, format_time

BATCH_TYPE = "io.threadline.ingest.batch"
INGEST_PREFIX = "io.threadline.ingest."


def grouped(events: Sequence[CloudEvent], source: str) -> list[CloudEvent]:
    """One message per partition key, in order of each key's first event."""
    groups: dict[str | None, list[CloudEvent]] = {}
    for event in events:
        groups.setdefault(event.partitionkey, []).append(event)
    return [
        members[0] if len(members) == 1 else batch_event(members, source)
        for members in groups.values()
    ]


def batch_event(members: Sequence[CloudEvent], source: str) -> CloudEvent:
    """The envelope of ``members`` (one partition key); its id names exactly these events.

    Derived from the members' messageIds, so an SDK that retries the identical
    batch publishes the same id and the consumer's inbox drops the copy.
    """
    first = members[0]
    message_ids = [str(member.data["messageId"]) for member in members]
    return CloudEvent(
        type=BATCH_TYPE,
        source=first.source,
        id=derived_id("ingest.batch", source, *message_ids),
        time=first.time,
        partitionkey=first.partitionkey,
        traceparent=first.traceparent,
        tracestate=first.tracestate,
        data={"events": _dicts(members)},
    )


def _dicts(members: Sequence[CloudEvent]) -> list[dict[str, Any]]:
    """``[m.to_dict() for m in members]``, formatting the shared receive time once."""
    first = members[0]
    time_text = format_time(first.time)
    out = []
    for member in members:
        raw = member.to_dict() if member.time != first.time else _same_time_dict(member, time_text)
        out.append(raw)
    return out


def _same_time_dict(event: CloudEvent, time_text: str) -> dict[str, Any]:
    # Mirrors CloudEvent.to_dict; tests compare the two so they cannot drift apart.
    out: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": time_text,
        "datacontenttype": event.datacontenttype,
        "data": event.data,
    }
    if event.subject is not None:
        out["subject"] = event.subject
    if event.partitionkey is not None:
        out["partitionkey"] = event.partitionkey
    if event.traceparent is not None:
        out["traceparent"] = event.traceparent
    if event.tracestate is not None:
        out["tracestate"] = event.tracestate
    return out


def expand(events: Iterable[CloudEvent]) -> list[CloudEvent]:
    """Unwrap batch envelopes into their ingest events, in order, each id once.

    Inner events take the envelope's trace context (on the consumer side: the
    consumer span), so what they cause stays in the request's trace. Raises
    :class:`ValidationError` naming the first malformed inner event.
    """
    out: list[CloudEvent] = []
    seen: set[str] = set()
    for event in events:
        for inner in _members(event):
            if inner.id not in seen:
                seen.add(inner.id)
                out.append(inner)
    return out


def _members(event: CloudEvent) -> list[CloudEvent]:
    if event.type != BATCH_TYPE:
        return [event]
    raw = event.data.get("events")
    if not isinstance(raw, list) or not raw:
        raise ValidationError(
            {f"{event.id}.data.events": "an ingest.batch must carry a non-empty list of events"}
        )
    members = []
    for index, item in enumerate(raw):
        members.append(_member(event, index, item))
    return members


def _member(batch: CloudEvent, index: int, raw: Any) -> CloudEvent:
    where = f"{batch.id}.data.events[{index}]"
    if not isinstance(raw, dict):
        raise ValidationError({where: "an inner event must be a CloudEvent JSON object"})
    try:
        inner = CloudEvent.from_dict(raw)
    except ValidationError as exc:
        raise ValidationError({f"{where}.{k}": v for k, v in exc.problems.items()}) from None
    if not inner.type.startswith(INGEST_PREFIX) or inner.type == BATCH_TYPE:
        raise ValidationError(
            {f"{where}.type": f"{inner.type!r} is not an io.threadline.ingest.<kind> event"}
        )
    if inner.partitionkey != batch.partitionkey:
        raise ValidationError(
            {
                f"{where}.partitionkey": f"{inner.partitionkey!r} differs from the batch's "
                f"{batch.partitionkey!r}: its events would lose their per-customer order"
            }
        )
    if batch.traceparent is not None:
        inner = inner.with_trace(batch.traceparent, batch.tracestate)
    return inner
