"""Scoring handlers: fold resolved customer events into each customer's metrics."""

from __future__ import annotations

from collections.abc import Sequence

from services.scoring.adapters.ports import MetricsStore
from services.scoring.domain.metrics import CustomerMetrics, ScoredEvent, apply_events
from shared.events import CloudEvent


async def handle_customer_events(batch: Sequence[CloudEvent], *, store: MetricsStore) -> None:
    """One load and one versioned save per batch; already-included events change nothing."""
    events = [ScoredEvent.from_data(event.id, event.data) for event in batch]
    by_customer: dict[str, list[ScoredEvent]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    stored = await store.load(list(by_customer))
    changed = []
    for customer_id, mine in by_customer.items():
        current = stored.get(customer_id) or CustomerMetrics(customer_id=customer_id)
        updated = apply_events(current, mine)
        if updated is not current:
            changed.append(updated)
    await store.save(changed)
