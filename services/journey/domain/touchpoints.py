"""Touchpoints: one per resolved customer event, the unit of a customer's timeline.

A touchpoint keeps the event's original name and all its properties (bounded by the
collection API's limits: depth, key and id sizes, 32 KB an event), since journey stages,
funnels and friction detectors match on them and the timeline shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from services.journey.domain import JourneyError
from shared.events import parse_time

_NONE: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One interaction of a customer on one channel at one moment (event time).

    ``name`` is the snake_case event name (a page's or screen's own name),
    ``event_name`` the name as sent (``Order Completed``).
    """

    id: str
    customer_id: str
    event_id: str
    kind: str
    name: str | None
    channel: str
    timestamp: datetime
    properties: Mapping[str, Any] = field(default_factory=lambda: _NONE)
    event_name: str | None = None

    def with_customer(self, customer_id: str) -> Touchpoint:
        return replace(self, customer_id=customer_id)


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
    name = data.get("event") if kind == "track" else data.get("name")
    original = data.get("eventName") if kind == "track" else data.get("name")
    return Touchpoint(
        id=event_id,
        customer_id=str(customer_id),
        event_id=str(data.get("ingestId") or event_id),
        kind=kind,
        name=str(name) if name else None,
        channel=str(data.get("channel") or "other"),
        timestamp=timestamp,
        properties=dict(properties) if isinstance(properties, Mapping) else {},
        event_name=str(original) if original else None,
    )
