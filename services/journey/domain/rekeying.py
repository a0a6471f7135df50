"""Identity changes applied to journey data: ``customer.merged``, ``.split``, ``.erased``.

Journey data derived from interactions (stages, threads, frictions) is
recomputed from the re-keyed interactions, never patched, so a merged customer
looks exactly as if they had been one customer all along.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from services.journey.domain.interactions import Interaction, chronological


def merge(survivor_id: str, *timelines: Iterable[Interaction]) -> tuple[Interaction, ...]:
    """Every interaction of the merged customers, re-keyed to ``survivor_id``, each id once."""
    return chronological(item.with_customer(survivor_id) for items in timelines for item in items)


def split(
    interactions: Iterable[Interaction], moved_ids: Collection[str], new_customer_id: str
) -> tuple[tuple[Interaction, ...], tuple[Interaction, ...]]:
    """(what stays, what moves to ``new_customer_id``) when a profile is split apart."""
    items = chronological(interactions)
    kept = tuple(item for item in items if item.id not in moved_ids)
    moved = tuple(item.with_customer(new_customer_id) for item in items if item.id in moved_ids)
    return kept, moved


def erase(interactions: Iterable[Interaction], customer_id: str) -> tuple[Interaction, ...]:
    """Everything except the erased customer's interactions."""
    return chronological(item for item in interactions if item.customer_id != customer_id)
