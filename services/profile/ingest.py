"""The profile's ingest contract: what the collector publishes and the worker consumes.

Used by both sides, so it lives at the service root rather than in ``api/``:

- :func:`ingest_event` is the ``io.threadline.ingest.<kind>`` CloudEvent an
  accepted, normalized message travels in; its id derives from the source and
  the messageId, which makes an SDK's retries harmless downstream.
- :func:`grouped` packs a request's accepted events into one
  ``io.threadline.ingest.batch`` envelope per partition key, and :func:`members`
  unpacks one again (the profile consumer hands it to the bus, which dedupes,
  handles, retries and parks every member on its own).
- :func:`quarantine_entry` is how a rejected message is kept for an operator.

Why envelopes: RabbitMQ confirms a few thousand persistent messages per second
on a small machine, far below what ``/v1/batch`` must accept, while SDKs batch
per device (one anonymousId per request). The envelope's ``data.events`` are
the inner ingest CloudEvents exactly as they would travel alone — each with
its own derived id, type and partition key — so per-event idempotency holds
whatever the grouping was. A group of one event travels as that event itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from services.profile.adapters.ports import QuarantinedEvent
from shared.errors import ValidationError
from shared.events import CloudEvent, derived_id, format_time
from shared.normalize import NormalizedEvent, message_id_of
from shared.normalize.fields import MAX_DEPTH

SOURCE = "threadline/profile/collector"
INGEST_PREFIX = "io.threadline.ingest."
BATCH_TYPE = "io.threadline.ingest.batch"


def ingest_event(
    event: NormalizedEvent, received_at: datetime, traceparent: str | None
) -> CloudEvent:
    """The CloudEvent an accepted message travels in."""
    return CloudEvent(
        type=f"{INGEST_PREFIX}{event['type']}",
        source=SOURCE,
        data=dict(event),
        id=derived_id("ingest", event["source"], event["messageId"]),
        time=received_at,
        partitionkey=event["anonymousId"] or event["userId"],
        traceparent=traceparent,
    )


def quarantine_entry(
    source: str,
    message: Any,
    errors: dict[str, str],
    received_at: datetime,
    *,
    kind: str | None = None,
    batch: dict[str, Any] | None = None,
) -> QuarantinedEvent:
    """A rejected message kept verbatim (as JSON text) with the reasons it was rejected.

    A message nested deeper than JSON serialization allows is kept cut after
    ``MAX_DEPTH + 1`` levels (deeper values replaced by a note): still one level
    too deep, so a replay refuses it again instead of accepting an altered
    message, and the record of it cannot fail.
    """
    try:
        payload = orjson.dumps(message).decode()
    except orjson.JSONEncodeError:
        message = _clipped(message, MAX_DEPTH + 1)
        payload = orjson.dumps(message).decode()
    key = message_id_of(message) if isinstance(message, dict) else payload
    return QuarantinedEvent(
        id=derived_id("quarantine", source, key),
        source=source,
        payload=payload,
        errors=errors,
        received_at=received_at,
        kind=kind,
        batch=orjson.dumps(batch).decode() if batch else None,
    )


def _clipped(value: Any, levels: int) -> Any:
    if not isinstance(value, dict | list):
        return value
    if levels == 0:
        return f"(cut: nested deeper than {MAX_DEPTH} levels)"
    if isinstance(value, dict):
        return {key: _clipped(item, levels - 1) for key, item in value.items()}
    return [_clipped(item, levels - 1) for item in value]


def grouped(events: Sequence[CloudEvent], source: str) -> list[CloudEvent]:
    """One message per partition key, in order of each key's first event."""
    groups: dict[str | None, list[CloudEvent]] = {}
    for event in events:
        groups.setdefault(event.partitionkey, []).append(event)
    return [
        group[0] if len(group) == 1 else batch_event(group, source) for group in groups.values()
    ]


def batch_event(group: Sequence[CloudEvent], source: str) -> CloudEvent:
    """The envelope of ``group`` (one partition key); its id names exactly these events.

    Derived from the members' messageIds, so an SDK that retries the identical
    batch publishes the same id and the consumer's inbox drops the copy.
    """
    first = group[0]
    message_ids = [str(member.data["messageId"]) for member in group]
    return CloudEvent(
        type=BATCH_TYPE,
        source=first.source,
        id=derived_id("ingest.batch", source, *message_ids),
        time=first.time,
        partitionkey=first.partitionkey,
        traceparent=first.traceparent,
        tracestate=first.tracestate,
        data={"events": _dicts(group)},
    )


def _dicts(group: Sequence[CloudEvent]) -> list[dict[str, Any]]:
    """``[m.to_dict() for m in group]``, formatting the shared receive time once."""
    first = group[0]
    time_text = format_time(first.time)
    return [
        member.to_dict() if member.time != first.time else _same_time_dict(member, time_text)
        for member in group
    ]


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
    """Unwrap batch envelopes into their ingest events, in order, each id once."""
    out: list[CloudEvent] = []
    seen: set[str] = set()
    for event in events:
        for inner in members(event):
            if inner.id not in seen:
                seen.add(inner.id)
                out.append(inner)
    return out


def members(event: CloudEvent) -> list[CloudEvent]:
    """The ingest events ``event`` carries: its members if it is an envelope, else itself.

    Members take the envelope's trace context (on the consumer side: the
    consumer span), so what they cause stays in the request's trace. Raises
    :class:`ValidationError` naming the first malformed member.
    """
    if event.type != BATCH_TYPE:
        return [event]
    raw = event.data.get("events")
    if not isinstance(raw, list) or not raw:
        raise ValidationError(
            {f"{event.id}.data.events": "an ingest.batch must carry a non-empty list of events"}
        )
    return [_member(event, index, item) for index, item in enumerate(raw)]


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
