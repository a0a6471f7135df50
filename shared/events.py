"""The CloudEvents 1.0 envelope every message on the bus travels in (DESIGN.md §3).

Structured JSON mode: the whole event is the AMQP body with content type
``application/cloudevents+json``; routing-relevant attributes are mirrored into
``ce-`` headers so brokers and shard exchanges can route without parsing bodies.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.errors import ValidationError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "io.threadline."
PARTITION_HEADER = "ce-partitionkey"


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z`` suffix."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def derived_id(*parts: str) -> str:
    """A deterministic event id for an event caused by others.

    Reprocessing an input after a crash publishes the same ids again, so
    downstream consumers deduplicate it: that is what makes at-least-once
    delivery exactly-once in effect.
    """
    digest = bytearray(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16])
    # The bits uuid.UUID(bytes=..., version=5) sets, without building the object (hot path).
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """An immutable CloudEvents 1.0 event."""

    type: str
    source: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)
    subject: str | None = None
    partitionkey: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    specversion: str = SPECVERSION
    datacontenttype: str = "application/json"

    @property
    def routing_key(self) -> str:
        """The routing key: the type without the ``io.threadline.`` prefix."""
        return self.type.removeprefix(TYPE_PREFIX)

    @property
    def shard_key(self) -> str:
        """What orders this event relative to others: its customer key, else its id."""
        return self.partitionkey or self.subject or self.id

    def with_trace(self, traceparent: str | None, tracestate: str | None = None) -> CloudEvent:
        return replace(self, traceparent=traceparent, tracestate=tracestate)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": format_time(self.time),
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        }
        for name in ("subject", "partitionkey", "traceparent", "tracestate"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), default=_json_default)

    def headers(self) -> dict[str, str]:
        """The ``ce-`` header mapping of the routing-relevant attributes."""
        headers = {
            "ce-specversion": self.specversion,
            "ce-id": self.id,
            "ce-source": self.source,
            "ce-type": self.type,
            "ce-time": format_time(self.time),
            PARTITION_HEADER: self.shard_key,
        }
        if self.subject is not None:
            headers["ce-subject"] = self.subject
        if self.traceparent is not None:
            headers["traceparent"] = self.traceparent
        if self.tracestate is not None:
            headers["tracestate"] = self.tracestate
        return headers

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CloudEvent:
        problems: dict[str, str] = {}
        for name in ("id", "source", "specversion", "type"):
            if not isinstance(raw.get(name), str) or not raw[name]:
                problems[name] = "required CloudEvents attribute is missing or not a string"
        if raw.get("specversion") not in (None, SPECVERSION):
            problems["specversion"] = f"must be {SPECVERSION!r}"
        data = raw.get("data", {})
        if not isinstance(data, dict):
            problems["data"] = "must be a JSON object"
        when = utcnow()
        if "time" in raw:
            try:
                when = parse_time(str(raw["time"]))
            except ValueError:
                problems["time"] = "must be an RFC 3339 timestamp"
        if problems:
            raise ValidationError(problems)
        return cls(
            id=raw["id"],
            source=raw["source"],
            type=raw["type"],
            specversion=raw["specversion"],
            time=when,
            data=data,
            subject=raw.get("subject"),
            partitionkey=raw.get("partitionkey"),
            traceparent=raw.get("traceparent"),
            tracestate=raw.get("tracestate"),
            datacontenttype=raw.get("datacontenttype", "application/json"),
        )

    @classmethod
    def from_json(cls, body: bytes) -> CloudEvent:
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationError({"body": f"not valid JSON: {exc}"}) from exc
        if not isinstance(raw, dict):
            raise ValidationError({"body": "a CloudEvent must be a JSON object"})
        return cls.from_dict(raw)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp; naive times are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _json_default(value: object) -> object:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
