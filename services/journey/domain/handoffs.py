"""Cross-channel handoffs: a journey continuing on another channel.

A journey *thread* is one cycle of one journey for one customer: the
interactions that match any of its stages, in event-time order. Each time
consecutive interactions of a thread change channel within ``max_gap``, the
journey was handed off (wishlist on the web → visit in the store → purchase in
the app is one thread with two handoffs). A longer silence is a break: the
customer came back, the journey did not flow on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.journey.domain.interactions import Interaction
from services.journey.domain.journeys import Journey
from services.journey.domain.stages import walk

DEFAULT_MAX_GAP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Handoff:
    """The journey moved from one channel to another between two interactions."""

    journey_id: str
    cycle: int
    from_channel: str
    to_channel: str
    from_id: str
    to_id: str
    at: datetime
    gap: timedelta


@dataclass(frozen=True, slots=True)
class Thread:
    """One cycle of one journey for one customer, with its handoffs and breaks."""

    customer_id: str
    journey_id: str
    cycle: int
    interactions: tuple[Interaction, ...]
    handoffs: tuple[Handoff, ...]
    breaks: int

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels in order of first use."""
        return tuple(dict.fromkeys(item.channel for item in self.interactions))

    @property
    def is_continuous_cross_channel(self) -> bool:
        """Spans two channels or more without a break."""
        return len(self.channels) >= 2 and self.breaks == 0


def threads(
    journey: Journey,
    customer_id: str,
    interactions: Iterable[Interaction],
    *,
    max_gap: timedelta = DEFAULT_MAX_GAP,
) -> tuple[Thread, ...]:
    """The customer's threads in ``journey``, oldest cycle first."""
    cycles: dict[int, list[Interaction]] = {}
    for step in walk(journey, interactions):
        cycles.setdefault(step.cycle, []).append(step.item)
    found = []
    for cycle, items in cycles.items():
        handoffs, breaks = [], 0
        for before, after in itertools.pairwise(items):
            gap = after.timestamp - before.timestamp
            if gap > max_gap:
                breaks += 1
            elif before.channel != after.channel:
                handoffs.append(
                    Handoff(
                        journey.id,
                        cycle,
                        before.channel,
                        after.channel,
                        before.id,
                        after.id,
                        after.timestamp,
                        gap,
                    )
                )
        found.append(Thread(customer_id, journey.id, cycle, tuple(items), tuple(handoffs), breaks))
    return tuple(found)


def continuity_rate(all_threads: Iterable[Thread]) -> float | None:
    """Share of threads that span two channels or more without a break; None with no threads."""
    every = list(all_threads)
    if not every:
        return None
    return sum(thread.is_continuous_cross_channel for thread in every) / len(every)
