"""Resolved customer events as the profile publishes them, built from real Segment messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events import CloudEvent, derived_id, parse_time
from shared.normalize import Receipt, normalize

RECEIVED = datetime(2026, 3, 1, 12, tzinfo=UTC)


def resolved(kind: str, message_id: str, customer_id: str, **fields: Any) -> CloudEvent:
    data = dict(
        normalize(
            {"messageId": message_id, "userId": customer_id, **fields},
            Receipt(received_at=RECEIVED, source="src00001"),
            kind=kind,
        )
    )
    ingest_id = derived_id("ingest", "src00001", message_id)
    return CloudEvent(
        type=f"io.threadline.customer.event.{kind}",
        source="threadline/profile",
        id=derived_id("resolved", ingest_id),
        time=parse_time(str(data["timestamp"])),
        subject=customer_id,
        partitionkey=customer_id,
        data={**data, "customerId": customer_id, "ingestId": ingest_id},
    )


def at(hour: int, minute: int = 0) -> str:
    return f"2026-03-01T{hour:02d}:{minute:02d}:00Z"
