"""What every scoring projection reads first from a resolved customer event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.scoring.domain import ScoringError
from shared.events import parse_time


@dataclass(frozen=True, slots=True)
class Resolved:
    """The customer, event time, channel, track name and properties of one event."""

    customer_id: str
    at: datetime
    channel: str
    name: str | None
    """The snake_case event name of a ``track`` call; None for other calls."""
    properties: Mapping[str, Any]

    @classmethod
    def of(cls, event_id: str, data: Mapping[str, Any]) -> Resolved:
        customer_id = data.get("customerId")
        if not customer_id:
            raise ScoringError(
                f"event {event_id} has no customerId; scoring consumes only "
                "io.threadline.customer.event.* events"
            )
        try:
            at = parse_time(str(data["timestamp"]))
        except (KeyError, ValueError) as exc:
            raise ScoringError(f"event {event_id} has no valid timestamp: {exc}") from exc
        raw = data.get("properties")
        return cls(
            customer_id=str(customer_id),
            at=at,
            channel=str(data.get("channel") or "other"),
            name=data.get("event") if data.get("type") == "track" else None,
            properties=raw if isinstance(raw, Mapping) else {},
        )
