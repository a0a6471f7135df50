"""Journey handlers: every resolved customer event becomes a touchpoint."""

from __future__ import annotations

from collections.abc import Sequence

from services.journey.adapters.ports import JourneyStore
from services.journey.domain.touchpoints import touchpoint_of
from shared.events import CloudEvent


async def handle_customer_events(batch: Sequence[CloudEvent], *, store: JourneyStore) -> None:
    """Store one touchpoint per ``customer.event.*`` (upserts: redelivery leaves one)."""
    await store.save_touchpoints([touchpoint_of(event.id, event.data) for event in batch])
