"""Touchpoints: one per resolved customer event, the unit of a customer's timeline.

A touchpoint keeps what a timeline shows (when, where, what) and a small
summary of the event's properties, never the whole payload: the profile owns
the events themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.journey.domain import JourneyError
from shared.events import parse_time

# The properties a timeline entry is worth showing, in Segment's semantic vocabulary.
SUMMARY_KEYS = (
    "order_id",
    "revenue",
    "total",
    "currency",
    "product_id",
    "sku",
    "name",
    "category",
    "url",
    "path",
    "title",
    "survey",
    "score",
    "ticket_id",
    "status",
    "subject",
)
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One interaction of a customer on one channel at one moment (event time)."""

    id: str
    customer_id: str
    event_id: str
    kind: str
    name: str | None
    channel: str
    timestamp: datetime
    summary: Mapping[str, Any]


def summarize(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar properties worth showing on a timeline, texts cut to ``MAX_TEXT``."""
    summary: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        value = properties.get(key)
        if isinstance(value, bool | int | float) or value is None:
            if value is not None:
                summary[key] = value
        elif isinstance(value, str):
            summary[key] = value[:MAX_TEXT]
    return summary


def touchpoint_of(event_id: str, data: Mapping[str, Any]) -> Touchpoint:
    """The touchpoint of a resolved ``customer.event.*`` (its data is the normalized event)."""
    customer_id = data.get("customerId")
    if not customer_id:
        raise JourneyError(
            f"event {event_id} has no customerId; only io.threadline.customer.event.* "
            "events (resolved by the profile) become touchpoints"
        )
    try:
        timestamp = parse_time(str(data["timestamp"]))
    except (KeyError, ValueError) as exc:
        raise JourneyError(f"event {event_id} has no valid timestamp: {exc}") from exc
    kind = str(data.get("type") or "track")
    properties = data.get("properties")
    summary = summarize(properties if isinstance(properties, Mapping) else {})
    money = data.get("money")
    if isinstance(money, Mapping) and money.get("revenue") is not None:
        summary["revenue"] = str(money["revenue"])
        summary["currency"] = str(money.get("currency", ""))
    name = data.get("event") if kind == "track" else data.get("name")
    return Touchpoint(
        id=event_id,
        customer_id=str(customer_id),
        event_id=str(data.get("ingestId") or event_id),
        kind=kind,
        name=str(name) if name else None,
        channel=str(data.get("channel") or "other"),
        timestamp=timestamp,
        summary=summary,
    )
