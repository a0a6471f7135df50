"""Real ingest events for profile tests: Segment messages through the collector's normalizer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.profile.ingest import ingest_event
from shared.events import CloudEvent
from shared.normalize import Receipt, normalize

RECEIVED = datetime(2026, 3, 1, 12, tzinfo=UTC)


def segment(kind: str, message_id: str, **fields: Any) -> CloudEvent:
    """The ``io.threadline.ingest.<kind>`` event the collector publishes for this message."""
    message = {"messageId": message_id, **fields}
    normalized = normalize(message, Receipt(received_at=RECEIVED, source="src00001"), kind=kind)
    return ingest_event(normalized, RECEIVED, None)


def at(hour: int, minute: int = 0) -> str:
    return f"2026-03-01T{hour:02d}:{minute:02d}:00Z"
